/* Prints a message and exits with the code given. */
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char** argv) {
  printf("about to exit with %s\n", argc > 1 ? argv[1] : "0");
  return argc > 1 ? atoi(argv[1]) : 0;
}
