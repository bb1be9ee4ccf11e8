/* Takes per-uid kernel resources, as a careless AUT might: "hog" opens inotify instances until
 * the kernel refuses (fs.inotify.max_user_instances is per uid, 128 by default) and holds them;
 * "one" opens one. Either prints its uid and what it got, then waits to be stopped. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int hog = argc > 1 && !strcmp(argv[1], "hog");
  int held = 0, err = 0;
  for (;;) {
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0) {
      err = errno;
      break;
    }
    ++held;
    if (!hog) break;
  }
  printf("uid %d inotify held %d%s%s\n", (int)getuid(), held, err ? " then " : "",
         err ? strerror(err) : "");
  for (;;) pause();
}
