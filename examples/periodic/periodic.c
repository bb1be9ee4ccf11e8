/* periodic: the report's test AUT (Listing 14). It sleeps until a common start time, then wakes
 * every period and prints one line per wakeup:
 *
 *     wakeup_ms sleep_ms start_ms n
 *
 * wakeup_ms is the Unix time in ms (with microseconds) at which it woke up for deadline n,
 * sleep_ms how long it asked to sleep, and start_ms the common start time. The deadline of line
 * n is start_ms + n * period_ms, so the jitter is |wakeup_ms - (start_ms + n * period_ms)|
 * (report, Equation 5.1).
 *
 * usage: periodic START_MS [PERIOD_MS] [COUNT]
 *   START_MS  Unix time in ms; 0 means "now"
 *   PERIOD_MS default 1000
 *   COUNT     wakeups before exiting, default 0 = forever
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_until_ms(long long ms) {
  struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &t, NULL) == EINTR) {
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s START_MS [PERIOD_MS] [COUNT]\n", argv[0]);
    return 2;
  }
  char* end;
  long long start = strtoll(argv[1], &end, 10);
  long long period = argc > 2 ? strtoll(argv[2], NULL, 10) : 1000;
  long long count = argc > 3 ? strtoll(argv[3], NULL, 10) : 0;
  if (*end || start < 0 || period <= 0 || count < 0) {
    fprintf(stderr, "periodic: bad arguments\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (start == 0) start = (long long)now_ms();
  sleep_until_ms(start); /* sleep sync */

  for (long long n = 1, done = 0; count == 0 || done < count; ++n, ++done) {
    double current = now_ms();
    long long deadline = start + n * period;
    if (deadline < current) { /* a missed deadline: skip to the next one ahead */
      n = (long long)((current - (double)start) / (double)period) + 1;
      deadline = start + n * period;
    }
    double sleep_ms = (double)deadline - current;
    sleep_until_ms(deadline); /* sleep period */
    printf("%.3f %.3f %lld %lld\n", now_ms(), sleep_ms, start, n);
  }
  return 0;
}
