/* Writes MIB mebibytes of numbered lines to stdout as fast as it can, then "flood done". */
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char** argv) {
  long mib = argc > 1 ? atol(argv[1]) : 8;
  long long bytes = 0, n = 0;
  while (bytes < mib * 1048576LL) bytes += printf("line %lld of a flood of output\n", n++);
  printf("flood done %lld lines\n", n);
  return 0;
}
