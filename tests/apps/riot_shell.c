/* Behaves like a RIOT `native` app with a shell, for the console and process tests:
 * - stdin is read 64 bytes at a time, as RIOT's UART ring buffer takes it; what else is
 *   already waiting at that moment is lost (printed as "lost N"), so a write of more than 64
 *   bytes at once loses characters;
 * - at start it forks a helper that never exits and keeps stdout open (as RIOT native's does);
 * - the shell prompts "> "; "reboot" re-executes the binary under the same PID, as RIOT's
 *   reboot does; "crash" exits 2 (leaving the helper); "echo WORDS" prints "echo: WORDS";
 *   "ps" prints the helper's PID.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  (void)argc;
  setvbuf(stdout, NULL, _IONBF, 0);
  const char* boots = getenv("RIOT_SHELL_BOOTS");
  int boot = boots ? atoi(boots) + 1 : 1;
  char value[16];
  snprintf(value, sizeof value, "%d", boot);
  setenv("RIOT_SHELL_BOOTS", value, 1);
  printf("main(): This is RIOT! (boot %d, pid %d)\n", boot, (int)getpid());
  pid_t helper = fork();
  if (helper == 0) {
    signal(SIGTERM, SIG_IGN); /* a helper that does not go quietly */
    for (;;) pause();
  }
  printf("helper %d\n", (int)helper);
  char line[1024];
  size_t len = 0;
  fputs("> ", stdout);
  for (;;) {
    char buf[64];
    ssize_t n = read(0, buf, sizeof buf);
    if (n == 0) {
      puts("stdin closed");
      return 3;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return 4;
    }
    /* Whatever else is already waiting overflows the ring buffer. */
    int flags = fcntl(0, F_GETFL);
    fcntl(0, F_SETFL, flags | O_NONBLOCK);
    char drop[4096];
    ssize_t lost = 0, m;
    while ((m = read(0, drop, sizeof drop)) > 0) lost += m;
    fcntl(0, F_SETFL, flags);
    if (lost) printf("lost %zd\n", lost);
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] != '\n') {
        if (len < sizeof line - 1) line[len++] = buf[i];
        continue;
      }
      line[len] = 0;
      len = 0;
      if (!strcmp(line, "reboot")) {
        puts("rebooting");
        execv("/proc/self/exe", argv);
        perror("execv");
        return 5;
      } else if (!strcmp(line, "crash")) {
        puts("crashing");
        return 2; /* the helper lives on, holding stdout */
      } else if (!strncmp(line, "echo ", 5)) {
        printf("echo: %s\n", line + 5);
      } else if (!strcmp(line, "ps")) {
        printf("helper %d\n", (int)helper);
      } else if (line[0]) {
        printf("shell: command not found: %s\n", line);
      }
      fputs("> ", stdout);
    }
  }
}
