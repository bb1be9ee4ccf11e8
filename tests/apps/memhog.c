/* Allocates and touches memory 1 MiB at a time, forever. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (size_t mib = 1;; ++mib) {
    char* p = malloc(1 << 20);
    if (!p) return printf("malloc failed at %zu MiB\n", mib), 1;
    memset(p, 0x5a, 1 << 20);
    if (mib % 16 == 0) printf("%zu MiB\n", mib);
  }
}
