/* Fills the instance's disk as a runaway AUT would: writes 1 MiB blocks to /work/fill until a
 * write fails (at most 512 MiB), then removes it and makes empty files in /work until that fails
 * (at most 200,000), and says how far each got. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  static char block[1 << 20];
  memset(block, 'x', sizeof block);
  int fd = open("/work/fill", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int mib = 0, err = 0;
  while (fd >= 0 && mib < 512) {
    ssize_t w = write(fd, block, sizeof block);
    if (w < (ssize_t)sizeof block) {
      err = w < 0 ? errno : ENOSPC;
      break;
    }
    ++mib;
  }
  if (fd < 0) err = errno;
  printf("wrote %d MiB then %s\n", mib, err ? strerror(err) : "stopped");
  if (fd >= 0) close(fd);
  unlink("/work/fill");
  int files = 0;
  err = 0;
  for (; files < 200000; ++files) {
    char name[64];
    snprintf(name, sizeof name, "/work/f%d", files);
    int f = open(name, O_WRONLY | O_CREAT, 0600);
    if (f < 0) {
      err = errno;
      break;
    }
    close(f);
  }
  printf("made %d files then %s\n", files, err ? strerror(err) : "stopped");
  for (;;) pause();
}
