/* Like RIOT native with a shell: forks a helper that keeps stdout open and ignores SIGTERM,
 * then sleeps. "forker exit" makes the main process exit right after forking. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pid_t helper = fork();
  if (helper == 0) {
    signal(SIGTERM, SIG_IGN);
    setsid(); /* not in the main process's group either */
    for (;;) pause();
  }
  printf("helper %d\n", helper);
  if (argc > 1 && !strcmp(argv[1], "exit")) return 0;
  for (;;) pause();
}
