/* kuiga-gate: the entrypoint of every `docker` instance, under Docker's own init (tini).
 *
 * The docker runtime starts each container at create time so that its network namespace
 * exists and can be wired to the radio network; the AUT itself must not run before the run
 * is started. The gate holds it back: it blocks SIGUSR1, SIGTERM and SIGINT, waits, and on
 * SIGUSR1 (the runtime's start) execs the AUT with its arguments, so that the AUT keeps the
 * gate's PID and finds its interface configured. SIGTERM or SIGINT before the start ends the
 * gate cleanly. The worker tells that the gate is waiting from /proc (SigBlk), so no start
 * signal can arrive before it is blocked.
 *
 * Static, in C: it is copied into every image built from a scratch base, where no libc is.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "kuiga-gate: usage: kuiga-gate PROGRAM [ARG...]\n");
    return 2;
  }
  sigset_t wait;
  sigemptyset(&wait);
  sigaddset(&wait, SIGUSR1);
  sigaddset(&wait, SIGTERM);
  sigaddset(&wait, SIGINT);
  if (sigprocmask(SIG_BLOCK, &wait, NULL) != 0) {
    fprintf(stderr, "kuiga-gate: sigprocmask: %s\n", strerror(errno));
    return 126;
  }
  int sig = 0;
  while (sigwait(&wait, &sig) != 0) {
  }
  if (sig != SIGUSR1) return 0; /* stopped before it was started */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execv(argv[1], argv + 1);
  fprintf(stderr, "kuiga-gate: cannot run %s: %s\n", argv[1], strerror(errno));
  return 127;
}
