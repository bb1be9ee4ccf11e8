/* Forks sleeping children until fork fails, then reports and exits 1. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int n = 0;; ++n) {
    pid_t p = fork();
    if (p == 0) {
      pause();
      _exit(0);
    }
    if (p < 0) {
      printf("fork failed after %d children: %s\n", n, strerror(errno));
      return 1;
    }
  }
}
