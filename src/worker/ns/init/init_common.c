/* What kuiga-init's two modes share; see init_common.h. */
#define _GNU_SOURCE
#include "worker/ns/init/init_common.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "worker/ns/init/report.h"

#ifndef SYS_move_mount
#define SYS_move_mount 429 /* the same on every architecture */
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

extern char** environ;

/* Read by the AUT's process only, right before exec: bss that init itself never touches, so it
 * costs no instance a page. */
static struct sock_filter seccompFilter[BPF_MAXINSNS];

int commonOption(struct mountOptions* o, const char** hostname, const char** seccompPath,
                 const char* a, const char* v) {
  if (!strcmp(a, "--root"))
    o->root = v;
  else if (!strcmp(a, "--app"))
    o->app = v;
  else if (!strcmp(a, "--hostname"))
    *hostname = v;
  else if (!strcmp(a, "--disk-size"))
    o->diskSize = v;
  else if (!strcmp(a, "--disk-inodes"))
    o->diskInodes = v;
  else if (!strcmp(a, "--seccomp"))
    *seccompPath = v;
  else if (!strcmp(a, "--gid"))
    o->gid = (gid_t)strtoul(v, NULL, 10);
  else
    return 0;
  return 1;
}

void blockTakenSignals(sigset_t* set) {
  static const int taken[] = {SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD};
  sigemptyset(set);
  for (size_t k = 0; k < sizeof taken / sizeof taken[0]; ++k) sigaddset(set, taken[k]);
  sigprocmask(SIG_BLOCK, set, NULL);
}

void report(const char* fmt, ...) {
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

_Noreturn void setupFailed(const char* stage) {
  report("setup-failed %d %s", errno, stage);
  _exit(KUIGA_INIT_SETUP_FAILED_CODE);
}

void must(int ok, const char* stage) {
  if (!ok) setupFailed(stage);
}

static void path(char* out, size_t n, const char* a, const char* b) {
  snprintf(out, n, "%s%s", a, b);
}

/* Everything below happens inside the instance's own mount namespace, so it changes nothing
 * the host or other instances see. */
void setupMounts(const struct mountOptions* o) {
  char p[kPathMax];
  /* Cloned by the zygote, init stands in the skeleton already: its paths are from "/". */
  const char* root = o->rooted ? "" : o->root;
  must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "make-mounts-private");
  const unsigned long nosuid = MS_NOSUID | MS_NODEV;

  path(p, sizeof p, root, "/app");
  if (o->rooted) {
    must(syscall(SYS_move_mount, o->appFd, "", AT_FDCWD, p, MOVE_MOUNT_F_EMPTY_PATH) == 0,
         "move-app");
    close(o->appFd);
  } else {
    must(mount(o->app, p, NULL, MS_BIND, NULL) == 0, "bind-app");
  }
  must(mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | nosuid, NULL) == 0,
       "remount-app-readonly");
  /* One private tmpfs per instance, capped in bytes and inodes: /run, with /tmp and /dev/shm
   * as symlinks into it (made in the skeleton) and /work bound from it, because every
   * superblock costs kernel memory in each of thousands of instances. Nothing the AUT writes
   * reaches the worker's disk, and what it writes goes with the instance. */
  char opts[96];
  snprintf(opts, sizeof opts, "mode=1777,size=%s,nr_inodes=%s", o->diskSize, o->diskInodes);
  path(p, sizeof p, root, "/run");
  must(mount("tmpfs", p, "tmpfs", nosuid, opts) == 0, "mount-run");
  static const char* const subs[] = {"/run/tmp", "/run/shm"};
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; ++i) {
    char q[kPathMax + 16];
    snprintf(q, sizeof q, "%s%s", root, subs[i]);
    must(mkdir(q, 01777) == 0 && chmod(q, 01777) == 0, "mkdir-run");
  }
  if (o->group) {
    /* Each device's private directory is /run/dev/INDEX (0700, its own uid). /run/dev itself
     * can be crossed but not listed, so a device does not learn its neighbours' names. */
    char dev[kPathMax + 16];
    snprintf(dev, sizeof dev, "%s/run/dev", root);
    must(mkdir(dev, 0711) == 0 && chmod(dev, 0711) == 0, "mkdir-dev");
  } else {
    char work[kPathMax + 16];
    snprintf(work, sizeof work, "%s/run/work", root);
    must(mkdir(work, 0700) == 0 && chown(work, o->uid, o->gid) == 0, "mkdir-work");
    path(p, sizeof p, root, "/work");
    must(mount(work, p, NULL, MS_BIND, NULL) == 0, "bind-work");
  }

  path(p, sizeof p, root, "/proc");
  must(mount("proc", p, "proc", nosuid | MS_NOEXEC, NULL) == 0, "mount-proc");

  if (o->rooted) {
    must(chdir("/") == 0, "chdir-new-root");
    return;
  }
  /* Make the prepared root ours and drop the host's mount tree from this namespace: the
   * instance then holds only its own dozen mounts. */
  must(chdir(root) == 0, "chdir-root");
  must(syscall(SYS_pivot_root, ".", ".") == 0, "pivot-root");
  must(umount2(".", MNT_DETACH) == 0, "detach-old-root");
  must(chdir("/") == 0, "chdir-new-root");
}

_Noreturn void execFailed(int errPipe, const char* stage) {
  char buf[128];
  int n = snprintf(buf, sizeof buf, "%d %s", errno, stage);
  ssize_t ignored = write(errPipe, buf, (size_t)n);
  (void)ignored;
  _exit(127);
}

static void applySeccomp(int fd, int errPipe) {
  /* pread: a group's devices share the descriptor, and so its offset. */
  size_t got = 0;
  for (ssize_t n; got < sizeof seccompFilter; got += (size_t)n) {
    n = pread(fd, (char*)seccompFilter + got, sizeof seccompFilter - got, (off_t)got);
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

_Noreturn void execAut(const struct autSpec* a, int errPipe) {
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* A process group of its own, in init's session, which has no terminal to leave: a session
   * of its own would give each device an autogroup, the scheduler's state for it on every CPU
   * (2 KiB on two). */
  if (setpgid(0, 0) < 0) execFailed(errPipe, "setpgid");
  if (chdir(a->cwd) < 0) execFailed(errPipe, "chdir-work");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) execFailed(errPipe, "no-new-privs");
  /* Up to the running kernel's last capability, which may be newer than these headers. */
  for (int cap = 0;; ++cap)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL && cap > 0) break; /* past the kernel's last capability */
      execFailed(errPipe, "drop-bounding-caps");
    }
  if (a->nproc > 0) {
    /* Counted per uid by the kernel, and each device has a uid of its own: a fork bomb meets
     * its own limit, not its neighbours'. */
    struct rlimit rl = {(rlim_t)a->nproc, (rlim_t)a->nproc};
    if (setrlimit(RLIMIT_NPROC, &rl) < 0) execFailed(errPipe, "rlimit-nproc");
  }
  if (setgroups(0, NULL) < 0) execFailed(errPipe, "setgroups");
  if (setresgid(a->gid, a->gid, a->gid) < 0) execFailed(errPipe, "setgid");
  if (setresuid(a->uid, a->uid, a->uid) < 0) execFailed(errPipe, "setuid");
  /* setuid() away from 0 cleared the permitted and effective sets; clear the rest too. */
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) < 0) execFailed(errPipe, "capset");
  if (a->seccompFd >= 0) applySeccomp(a->seccompFd, errPipe);
  execve(a->argv[0], a->argv, a->envp ? a->envp : environ);
  execFailed(errPipe, "exec");
}

int execOutcome(int errPipe, int* err, char* stage, size_t n) {
  char buf[128] = {0};
  ssize_t got;
  while ((got = read(errPipe, buf, sizeof buf - 1)) < 0 && errno == EINTR) {
  }
  if (got <= 0) return 0;
  buf[got] = 0;
  *err = atoi(buf);
  const char* s = strchr(buf, ' ');
  snprintf(stage, n, "%s", s ? s + 1 : "exec");
  return 1;
}
