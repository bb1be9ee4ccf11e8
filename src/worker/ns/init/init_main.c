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
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/ns/init/report.h"

/* Paths built here are the skeleton's (/run/kuiga/NAME/root/...), which the worker keeps short;
 * small buffers keep init's stack, which every instance pays for, to a page or two. */
enum { kPathMax = 512 };

struct options {
  const char* root; /* prepared read-only view of the host root */
  const char* app;  /* host dir shown at /app */
  const char* hostname;
  const char* diskSize;   /* the private tmpfs: /run, /tmp, /dev/shm and /work together */
  const char* diskInodes; /* and its inode cap */
  uid_t uid;
  gid_t gid;
  int seccompFd; /* the worker's filter (raw BPF), opened before the host's tree goes; -1: none */
  char** argv;   /* AUT argv; argv[0] is the path inside the instance */
};

/* Read by the AUT's process only, right before exec: bss that init itself never touches, so it
 * costs no instance a page. */
static struct sock_filter seccompFilter[BPF_MAXINSNS];

static void report(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  /* A report the worker cannot read would leave the instance waiting for ever: end instead,
   * and the worker sees init exit with the set-up failure code. */
  if (write(KUIGA_INIT_REPORT_FD, buf, (size_t)n) != n) _exit(KUIGA_INIT_SETUP_FAILED_CODE);
}

static _Noreturn void setupFailed(const char* stage) {
  report("setup-failed %d %s", errno, stage);
  _exit(KUIGA_INIT_SETUP_FAILED_CODE);
}

static void must(int ok, const char* stage) {
  if (!ok) setupFailed(stage);
}

static void path(char* out, size_t n, const char* a, const char* b) {
  snprintf(out, n, "%s%s", a, b);
}

/* Everything below happens inside the instance's own mount namespace, so it changes nothing
 * the host or other instances see. */
static void setupMounts(const struct options* o) {
  char p[kPathMax];
  must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "make-mounts-private");
  const unsigned long nosuid = MS_NOSUID | MS_NODEV;

  path(p, sizeof p, o->root, "/app");
  must(mount(o->app, p, NULL, MS_BIND, NULL) == 0, "bind-app");
  must(mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | nosuid, NULL) == 0,
       "remount-app-readonly");
  /* One private tmpfs per instance, capped in bytes and inodes: /run, with /tmp and /dev/shm
   * as symlinks into it (made in the skeleton) and /work bound from it, because every
   * superblock costs kernel memory in each of thousands of instances. Nothing the AUT writes
   * reaches the worker's disk, and what it writes goes with the instance. */
  char opts[96];
  snprintf(opts, sizeof opts, "mode=1777,size=%s,nr_inodes=%s", o->diskSize, o->diskInodes);
  path(p, sizeof p, o->root, "/run");
  must(mount("tmpfs", p, "tmpfs", nosuid, opts) == 0, "mount-run");
  static const char* const subs[] = {"/run/tmp", "/run/shm"};
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; ++i) {
    char q[kPathMax + 16];
    snprintf(q, sizeof q, "%s%s", o->root, subs[i]);
    must(mkdir(q, 01777) == 0 && chmod(q, 01777) == 0, "mkdir-run");
  }
  char work[kPathMax + 16];
  snprintf(work, sizeof work, "%s/run/work", o->root);
  must(mkdir(work, 0700) == 0 && chown(work, o->uid, o->gid) == 0, "mkdir-work");
  path(p, sizeof p, o->root, "/work");
  must(mount(work, p, NULL, MS_BIND, NULL) == 0, "bind-work");

  path(p, sizeof p, o->root, "/proc");
  must(mount("proc", p, "proc", nosuid | MS_NOEXEC, NULL) == 0, "mount-proc");

  /* Make the prepared root ours and drop the host's mount tree from this namespace: the
   * instance then holds only its own dozen mounts. */
  must(chdir(o->root) == 0, "chdir-root");
  must(syscall(SYS_pivot_root, ".", ".") == 0, "pivot-root");
  must(umount2(".", MNT_DETACH) == 0, "detach-old-root");
  must(chdir("/") == 0, "chdir-new-root");
}

static _Noreturn void execFailed(int errPipe, const char* stage) {
  char buf[128];
  int n = snprintf(buf, sizeof buf, "%d %s", errno, stage);
  ssize_t ignored = write(errPipe, buf, (size_t)n);
  (void)ignored;
  _exit(127);
}

static _Noreturn void execAut(const struct options* o, int errPipe) {
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (setsid() < 0) execFailed(errPipe, "setsid");
  if (chdir("/work") < 0) execFailed(errPipe, "chdir-work");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) execFailed(errPipe, "no-new-privs");
  /* Up to the running kernel's last capability, which may be newer than these headers. */
  for (int cap = 0;; ++cap)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL && cap > 0) break; /* past the kernel's last capability */
      execFailed(errPipe, "drop-bounding-caps");
    }
  if (setgroups(0, NULL) < 0) execFailed(errPipe, "setgroups");
  if (setresgid(o->gid, o->gid, o->gid) < 0) execFailed(errPipe, "setgid");
  if (setresuid(o->uid, o->uid, o->uid) < 0) execFailed(errPipe, "setuid");
  /* setuid() away from 0 cleared the permitted and effective sets; clear the rest too. */
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) < 0) execFailed(errPipe, "capset");
  if (o->seccompFd >= 0) {
    size_t got = 0;
    for (ssize_t n; got < sizeof seccompFilter; got += (size_t)n) {
      n = read(o->seccompFd, (char*)seccompFilter + got, sizeof seccompFilter - got);
      if (n < 0 && errno == EINTR)
        n = 0;
      else if (n < 0)
        execFailed(errPipe, "read-seccomp");
      else if (n == 0)
        break;
    }
    if (got == 0 || got % sizeof seccompFilter[0]) {
      errno = EINVAL;
      execFailed(errPipe, "read-seccomp");
    }
    struct sock_fprog prog = {(unsigned short)(got / sizeof seccompFilter[0]), seccompFilter};
    /* Last: every call before it needed what the filter refuses (setgroups, capset). */
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) execFailed(errPipe, "seccomp");
  }
  execv(o->argv[0], o->argv);
  execFailed(errPipe, "exec");
}

static int usage(const char* msg) {
  fprintf(stderr, "kuiga-init: %s\n", msg);
  return 2;
}

int main(int argc, char** argv) {
  struct options o = {
      .diskSize = "64m", .diskInodes = "16384", .uid = 65534, .gid = 65534, .seccompFd = -1};
  const char* seccompPath = NULL;
  /* Only waits: `kuiga bench instances` measures the kernel's floor of an instance with copies
   * of this program in an instance's namespaces (src/bench/floor.cpp). */
  if (argc == 2 && !strcmp(argv[1], "--pause"))
    for (;;) pause();
  int i = 1;
  for (; i < argc; ++i) {
    const char* a = argv[i];
    if (!strcmp(a, "--")) {
      ++i;
      break;
    }
    if (i + 1 >= argc) return usage("option without value");
    const char* v = argv[++i];
    if (!strcmp(a, "--root"))
      o.root = v;
    else if (!strcmp(a, "--app"))
      o.app = v;
    else if (!strcmp(a, "--hostname"))
      o.hostname = v;
    else if (!strcmp(a, "--disk-size"))
      o.diskSize = v;
    else if (!strcmp(a, "--disk-inodes"))
      o.diskInodes = v;
    else if (!strcmp(a, "--seccomp"))
      seccompPath = v;
    else if (!strcmp(a, "--uid"))
      o.uid = (uid_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--gid"))
      o.gid = (gid_t)strtoul(v, NULL, 10);
    else
      return usage("unknown option");
  }
  if (!o.root || !o.app || !o.hostname || i >= argc) return usage("missing arguments");
  if (strlen(o.root) > kPathMax - 64) return usage("--root path too long");
  o.argv = argv + i;
  if (fcntl(KUIGA_INIT_REPORT_FD, F_SETFD, FD_CLOEXEC) < 0) return usage("no report fd 3");

  // Every signal init acts on is blocked and taken with sigwaitinfo(). Blocked signals queue
  // even for a namespace's PID 1, which would otherwise drop signals it has no handler for.
  sigset_t set;
  sigemptyset(&set);
  static const int taken[] = {SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD};
  for (size_t k = 0; k < sizeof taken / sizeof taken[0]; ++k) sigaddset(&set, taken[k]);
  sigprocmask(SIG_BLOCK, &set, NULL);

  if (seccompPath && *seccompPath) {
    o.seccompFd = open(seccompPath, O_RDONLY | O_CLOEXEC);
    must(o.seccompFd >= 0, "open-seccomp");
  }
  setupMounts(&o);
  must(sethostname(o.hostname, strlen(o.hostname)) == 0, "sethostname");
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

  int errPipe[2];
  must(pipe2(errPipe, O_CLOEXEC) == 0, "pipe");
  pid_t aut = fork();
  must(aut >= 0, "fork");
  if (aut == 0) {
    close(errPipe[0]);
    execAut(&o, errPipe[1]);
  }
  close(errPipe[1]);
  if (o.seccompFd >= 0) close(o.seccompFd);
  char err[128] = {0};
  ssize_t n;
  while ((n = read(errPipe[0], err, sizeof err - 1)) < 0 && errno == EINTR) {
  }
  close(errPipe[0]);
  if (n > 0) {
    err[n] = 0;
    int code = atoi(err);
    const char* stage = strchr(err, ' ');
    report("exec-failed %d %s", code, stage ? stage + 1 : "exec");
    while (waitpid(aut, NULL, 0) < 0 && errno == EINTR) {
    }
    return 127;
  }
  report("started %d", aut);

  for (;;) {
    int s = sigwaitinfo(&set, &si);
    if (s < 0) continue;
    if (s != SIGCHLD) {
      kill(aut, s);  // stop requests go to the AUT, which may clean up
      continue;
    }
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
      if (p != aut) continue;  // an orphan reparented to us
      if (WIFEXITED(status)) {
        report("exit %d", WEXITSTATUS(status));
        return WEXITSTATUS(status);
      }
      report("signal %d", WTERMSIG(status));
      return 128 + WTERMSIG(status);
    }
  }
}
