/* A line-based shell: prints "> ", reads a line from stdin, echoes it as "got: LINE". */
#include <stdio.h>
#include <string.h>
int main(void) {
  char line[4096];
  setvbuf(stdout, NULL, _IONBF, 0);
  for (;;) {
    fputs("> ", stdout);
    if (!fgets(line, sizeof line, stdin)) {
      puts("stdin closed");
      return 3;
    }
    line[strcspn(line, "\n")] = 0;
    printf("got: %s\n", line);
  }
}
