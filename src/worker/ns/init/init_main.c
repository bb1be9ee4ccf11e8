/* kuiga-init: PID 1 of every `ns` instance. A small static C program, built against musl
 * where it is installed: it starts once per instance and every instance pays for its private
 * memory, which for a static musl binary is about 44 KiB less than for a static glibc one
 * (page tables, data, heap; docs/performance.md). It sets up the instance's mount namespace,
 * waits for the start signal (SIGUSR1, blocked since before exec so it queues), runs the AUT as
 * an unprivileged user, forwards stop signals to it and reaps every orphan. When the AUT's main
 * process ends, init reports how and exits, and the kernel kills what is left in the PID
 * namespace: no helper the AUT forked survives holding the log pipe. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/ns/init/init_common.h"
#include "worker/ns/init/report.h"

struct autLaunch {
  const struct autSpec* aut;
  int errPipe[2];
};

/* The AUT's process, on a stack of its own but in init's memory until its exec (CLONE_VM; init
 * waits, CLONE_VFORK), as a group's devices are: a fork copied init's page tables and the exec
 * tore the copy down, a round of page-table updates and TLB flushes each, dear on a
 * paravirtualized host (docs/performance.md, "Page tables at every init"). */
static int autMain(void* arg) {
  const struct autLaunch* l = arg;
  close(l->errPipe[0]);
  execAut(l->aut, l->errPipe[1]);
}

/* Past "ready", a failure is the AUT's start's, reported as a group's device reports it: the
 * worker words it "cannot start the AUT (fork): ...", not as a set-up that had succeeded. */
static int startFailed(const char* stage) {
  report("exec-failed %d %s", errno, stage);
  return 127;
}

static int usage(const char* msg) {
  fprintf(stderr, "kuiga-init: %s\n", msg);
  return 2;
}

int main(int argc, char** argv) {
  struct mountOptions o = {.diskSize = "64m", .diskInodes = "16384", .uid = 65534, .gid = 65534};
  const char* hostname = NULL;
  const char* seccompPath = NULL;
  int seccompFd = -1; /* from the zygote, which passes the filter open */
  long nproc = 0;
  /* Only waits: `kuiga bench instances` measures the kernel's floor of an instance with copies
   * of this program in an instance's namespaces (src/bench/floor.cpp). */
  if (argc == 2 && !strcmp(argv[1], "--pause"))
    for (;;) pause();
  if (argc > 1 && !strcmp(argv[1], "--group")) return groupMain(argc - 1, argv + 1);
  if (argc > 1 && !strcmp(argv[1], "--zygote")) return zygoteMain(argc - 1, argv + 1);
  int i = 1;
  for (; i < argc; ++i) {
    const char* a = argv[i];
    if (!strcmp(a, "--")) {
      ++i;
      break;
    }
    if (i + 1 >= argc) return usage("option without value");
    const char* v = argv[++i];
    if (commonOption(&o, &hostname, &seccompPath, a, v)) continue;
    if (!strcmp(a, "--uid")) {
      o.uid = (uid_t)strtoul(v, NULL, 10);
    } else if (!strcmp(a, "--nproc")) {
      nproc = strtol(v, NULL, 10); /* its pids limit when it has no pids cgroup, else 0 */
    } else if (!strcmp(a, "--app-fd")) {
      o.rooted = 1;
      o.appFd = atoi(v);
    } else if (!strcmp(a, "--seccomp-fd")) {
      seccompFd = *v ? atoi(v) : -1;
    } else {
      return usage("unknown option");
    }
  }
  if (!o.root || (!o.app && !o.rooted) || !hostname || i >= argc) return usage("missing arguments");
  if (strlen(o.root) > kPathMax - 64) return usage("--root path too long");
  struct autSpec aut = {.uid = o.uid,
                        .gid = o.gid,
                        .nproc = nproc,
                        .seccompFd = -1,
                        .cwd = "/work",
                        .argv = argv + i};
  if (fcntl(KUIGA_INIT_REPORT_FD, F_SETFD, FD_CLOEXEC) < 0) return usage("no report fd 3");

  sigset_t set;
  blockTakenSignals(&set);

  if (seccompFd >= 0) {
    aut.seccompFd = seccompFd;
    must(fcntl(seccompFd, F_SETFD, FD_CLOEXEC) == 0, "open-seccomp");
  } else if (seccompPath && *seccompPath) {
    aut.seccompFd = open(seccompPath, O_RDONLY | O_CLOEXEC);
    must(aut.seccompFd >= 0, "open-seccomp");
  }
  setupMounts(&o);
  must(sethostname(hostname, strlen(hostname)) == 0, "sethostname");
  report("ready");

  siginfo_t si;
  for (;;) {
    int s = sigwaitinfo(&set, &si);
    if (s == SIGUSR1) break;
    if (s == SIGTERM || s == SIGINT || s == SIGHUP) {
      report("exit 0");
      return 0;  // stopped before it was started
    }
  }

  static char stack[64 * 1024] __attribute__((aligned(4096)));
  struct autLaunch launch = {.aut = &aut};
  int* errPipe = launch.errPipe;
  if (pipe2(errPipe, O_CLOEXEC) != 0) return startFailed("pipe");
  pid_t pid = clone(autMain, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &launch);
  if (pid < 0) return startFailed("fork");
  /* The child has exec'd or ended: the pages its stack touched are init's, and would stay
   * with every instance (4 to 8 KiB) if not given back. */
  madvise(stack, sizeof stack, MADV_DONTNEED);
  close(errPipe[1]);
  if (aut.seccompFd >= 0) close(aut.seccompFd);
  int err = 0;
  char stage[64];
  int failed = execOutcome(errPipe[0], &err, stage, sizeof stage);
  close(errPipe[0]);
  if (failed) {
    report("exec-failed %d %s", err, stage);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return 127;
  }
  report("started %d", pid);

  for (;;) {
    int s = sigwaitinfo(&set, &si);
    if (s < 0) continue;
    if (s != SIGCHLD) {
      kill(pid, s);  // stop requests go to the AUT, which may clean up
      continue;
    }
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
      if (p != pid) continue;  // an orphan reparented to us
      if (WIFEXITED(status)) {
        report("exit %d", WEXITSTATUS(status));
        return WEXITSTATUS(status);
      }
      report("signal %d", WTERMSIG(status));
      return 128 + WTERMSIG(status);
    }
  }
}
