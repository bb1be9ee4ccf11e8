/* kuiga-init --group: PID 1 of a group of devices (`isolation: group`, issue 20). The devices
 * of a group share its network, mount, PID, UTS and IPC namespaces and this init; each is
 * still a process of its own, under a uid of its own, in a private directory /run/dev/INDEX.
 *
 * The worker holds one descriptor per group, not per device (RLIMIT_NOFILE may be 20,000 and
 * out of reach), so this init carries every device's traffic:
 *   - commands arrive on fd 0 (a FIFO the worker writes), one header line and a payload each:
 *       "VERB INDEX ARG1 ARG2 LEN\n" then LEN bytes; VERB is
 *       add    (ARG1 uid, ARG2 RLIMIT_NPROC; payload: argc, argv, env, NUL-ended strings)
 *       start  (runs the device's AUT)
 *       kill   (ARG1 the signal; SIGKILL takes every process of the device's uid)
 *       in     (payload: bytes for the device's stdin)
 *       forget (the device goes: its processes and its directory)
 *   - each device's output goes out on fd 1 (a FIFO the worker reads) as "o INDEX LEN\n" and
 *     LEN bytes, and every report record (report.h) as "r RECORD\n"; the records also go to
 *     the report file (fd 3), for recovery.
 * Hand-written in C for the same reason as init_main.c: every group pays for it once, and a
 * device costs it two pipes and a small record. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/ns/init/init_common.h"
#include "worker/ns/init/report.h"

enum { kFree, kAdded, kStarted, kEnded };
enum { kMaxPayload = 1 << 20, kControlKey = UINT32_MAX, kSignalKey = UINT32_MAX - 1 };

struct device {
  pid_t pid;
  uid_t uid;
  long nproc;
  int in, out; /* its stdin's write end and its output's read end; -1 when closed */
  unsigned char state;
  char* spec; /* the add payload: from add until start */
  size_t specLen;
};

static struct device* devices;
static unsigned base, count;
static int epfd;
static struct autSpec shared = {.seccompFd = -1};

static void writeAll(int fd, const struct iovec* iov, int n) {
  struct iovec v[3];
  memcpy(v, iov, sizeof v[0] * (size_t)n);
  while (n > 0) {
    ssize_t w = writev(fd, v, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) _exit(KUIGA_INIT_SETUP_FAILED_CODE); /* the worker's FIFO is gone: nothing left */
    while (n > 0 && (size_t)w >= v[0].iov_len) {
      w -= (ssize_t)v[0].iov_len;
      memmove(v, v + 1, sizeof v[0] * (size_t)--n);
    }
    if (n > 0) {
      v[0].iov_base = (char*)v[0].iov_base + w;
      v[0].iov_len -= (size_t)w;
    }
  }
}

/* A report, to the file (what recovery and a set-up failure are read from) and on the output
 * FIFO: there it stays in order with the device's output, so a device's last words are logged
 * before its end is. */
static void deviceReport(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void deviceReport(const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  report("%s", buf);
  struct iovec v[3] = {{"r ", 2}, {buf, strlen(buf)}, {"\n", 1}};
  writeAll(1, v, 3);
}

static struct device* lookup(unsigned index) {
  return index >= base && index - base < count ? &devices[index - base] : NULL;
}

static void closeFd(int* fd) {
  if (*fd < 0) return;
  epoll_ctl(epfd, EPOLL_CTL_DEL, *fd, NULL);
  close(*fd);
  *fd = -1;
}

/* Forwards what the device wrote; returns 0 once its output is closed. */
static int forward(unsigned index, struct device* d) {
  char buf[4096];
  ssize_t n = read(d->out, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
  if (n <= 0) {
    closeFd(&d->out);
    return 0;
  }
  char head[48];
  int h = snprintf(head, sizeof head, "o %u %zd\n", index, n);
  struct iovec v[2] = {{head, (size_t)h}, {buf, (size_t)n}};
  writeAll(1, v, 2);
  return 1;
}

/* Every process of the device's uid: its helpers outlive its main process otherwise. A child
 * that takes the uid and signals everything it may is the kernel's own way to name them. */
static void killUid(uid_t uid) {
  pid_t p = fork();
  if (p == 0) {
    if (setresuid(uid, uid, uid) == 0) kill(-1, SIGKILL);
    _exit(0);
  }
}

static void ended(unsigned index, struct device* d, int status) {
  for (int k = 0; k < 64 && d->out >= 0 && forward(index, d);) ++k; /* what it left unread */
  closeFd(&d->out);
  closeFd(&d->in);
  killUid(d->uid);
  d->pid = 0;
  d->state = kEnded;
  if (WIFEXITED(status))
    deviceReport("exit %u %d", index, WEXITSTATUS(status));
  else
    deviceReport("signal %u %d", index, WTERMSIG(status));
}

static void reap(void) {
  int status;
  pid_t p;
  while ((p = waitpid(-1, &status, WNOHANG)) > 0)
    for (unsigned i = 0; i < count; ++i)
      if (devices[i].pid == p && devices[i].state == kStarted) {
        ended(base + i, &devices[i], status);
        break;
      }
}

static int addDevice(unsigned index, struct device* d, long uid, long nproc, const char* payload,
                     size_t len) {
  char dir[64];
  snprintf(dir, sizeof dir, "/run/dev/%u", index);
  if (mkdir(dir, 0700) < 0 || chown(dir, (uid_t)uid, shared.gid) < 0) return -1;
  d->spec = malloc(len);
  if (!d->spec) return -1;
  memcpy(d->spec, payload, len);
  d->specLen = len;
  d->uid = (uid_t)uid;
  d->nproc = nproc;
  d->state = kAdded;
  return 0;
}

/* Splits the add payload ("ARGC", ARGC argv strings, then env strings, each NUL-ended) into
 * argv and envp, NULL-terminated, in one allocation. */
static char** vectors(const struct device* d, char*** envp) {
  size_t n = 0;
  for (size_t i = 0; i < d->specLen; ++i) n += d->spec[i] == 0;
  if (n == 0 || d->spec[d->specLen - 1] != 0) return NULL;
  size_t argc = strtoul(d->spec, NULL, 10);
  if (argc == 0 || argc >= n) return NULL;
  char** v = calloc(n + 1, sizeof *v); /* n - 1 strings and two NULLs */
  if (!v) return NULL;
  size_t k = 0;
  for (size_t i = strlen(d->spec) + 1; i < d->specLen; i += strlen(d->spec + i) + 1) {
    if (k == argc) v[k++] = NULL;
    v[k++] = d->spec + i;
  }
  if (k == argc) v[k++] = NULL;
  v[k] = NULL;
  *envp = v + argc + 1;
  return v;
}

static void startDevice(unsigned index, struct device* d) {
  char** envp;
  char** argv = vectors(d, &envp);
  int in[2], out[2], errPipe[2];
  if (!argv || pipe2(in, O_CLOEXEC) < 0) {
    deviceReport("exec-failed %u %d %s", index, argv ? errno : EINVAL, "spec");
    d->state = kEnded;
    return;
  }
  pipe2(out, O_CLOEXEC);
  pipe2(errPipe, O_CLOEXEC);
  char cwd[64];
  snprintf(cwd, sizeof cwd, "/run/dev/%u", index);
  pid_t pid = fork();
  if (pid == 0) {
    close(errPipe[0]);
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0) _exit(127);
    struct autSpec a = shared;
    a.uid = d->uid;
    a.cwd = cwd;
    a.nproc = d->nproc;
    a.argv = argv;
    a.envp = envp;
    execAut(&a, errPipe[1]);
  }
  close(in[0]);
  close(out[1]);
  close(errPipe[1]);
  int err = 0;
  char stage[64];
  int failed = pid < 0 || execOutcome(errPipe[0], &err, stage, sizeof stage);
  if (pid < 0) err = errno, snprintf(stage, sizeof stage, "fork");
  close(errPipe[0]);
  free(argv);
  free(d->spec);
  d->spec = NULL;
  if (failed) {
    close(in[1]);
    close(out[0]);
    if (pid > 0)
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
      }
    d->state = kEnded;
    deviceReport("exec-failed %u %d %s", index, err, stage);
    return;
  }
  d->pid = pid;
  d->in = in[1];
  d->out = out[0];
  d->state = kStarted;
  fcntl(d->in, F_SETFL, O_NONBLOCK);
  fcntl(d->out, F_SETFL, O_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = index - base};
  epoll_ctl(epfd, EPOLL_CTL_ADD, d->out, &ev);
  deviceReport("started %u %d", index, pid);
}

static int removeEntry(const char* p, const struct stat* st, int flag, struct FTW* ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(p);
  return 0;
}

static void forget(unsigned index, struct device* d) {
  if (d->state == kStarted) killUid(d->uid);
  closeFd(&d->out);
  closeFd(&d->in);
  free(d->spec);
  memset(d, 0, sizeof *d);
  d->in = d->out = -1;
  char dir[64];
  snprintf(dir, sizeof dir, "/run/dev/%u", index);
  nftw(dir, removeEntry, 16, FTW_DEPTH | FTW_PHYS);
}

static void command(const char* verb, unsigned index, long a1, long a2, const char* payload,
                    size_t len) {
  struct device* d = lookup(index);
  if (!d) return; /* not this group's: the worker never sends it */
  if (!strcmp(verb, "add")) {
    if (d->state != kFree || addDevice(index, d, a1, a2, payload, len) < 0)
      deviceReport("dev-failed %u %d add", index, d->state != kFree ? EEXIST : errno);
    else
      deviceReport("added %u", index);
  } else if (!strcmp(verb, "start") && d->state == kAdded) {
    startDevice(index, d);
  } else if (!strcmp(verb, "kill")) {
    if (d->state == kAdded) { /* stopped before it was started */
      d->state = kEnded;
      deviceReport("exit %u 0", index);
    } else if (d->state == kStarted) {
      kill(d->pid, (int)a1);
      if (a1 == SIGKILL) killUid(d->uid);
    }
  } else if (!strcmp(verb, "in") && d->in >= 0) {
    /* Paced by the worker (64 bytes at a time, a line per prompt): a full stdin means the AUT
     * is not reading, and the worker's own queue keeps the rest. */
    ssize_t ignored = write(d->in, payload, len);
    (void)ignored;
  } else if (!strcmp(verb, "forget")) {
    forget(index, d);
  }
}

static char* ctl;
static size_t ctlLen, ctlCap;

static void readCommands(void) {
  if (ctlCap - ctlLen < 65536) {
    char* grown = realloc(ctl, ctlCap + 65536);
    if (!grown) return;
    ctl = grown;
    ctlCap += 65536;
  }
  ssize_t n = read(0, ctl + ctlLen, ctlCap - ctlLen);
  if (n <= 0) return;
  ctlLen += (size_t)n;
  for (;;) {
    char* nl = memchr(ctl, '\n', ctlLen);
    if (!nl) return;
    char verb[16];
    unsigned index;
    long a1, a2;
    size_t len;
    *nl = 0;
    int fields = sscanf(ctl, "%15s %u %ld %ld %zu", verb, &index, &a1, &a2, &len);
    size_t head = (size_t)(nl - ctl) + 1;
    if (fields != 5 || len > kMaxPayload) len = 0, verb[0] = 0; /* not the worker's: skip */
    if (ctlLen < head + len) {
      *nl = '\n';
      return; /* the payload is still on its way */
    }
    if (verb[0]) command(verb, index, a1, a2, ctl + head, len);
    memmove(ctl, ctl + head + len, ctlLen - head - len);
    ctlLen -= head + len;
  }
}

static int usage(const char* msg) {
  fprintf(stderr, "kuiga-init --group: %s\n", msg);
  return 2;
}

int groupMain(int argc, char** argv) {
  struct mountOptions o = {.diskSize = "64m", .diskInodes = "16384", .group = 1};
  const char *hostname = NULL, *seccompPath = NULL;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) return usage("option without value");
    const char *a = argv[i], *v = argv[i + 1];
    if (!strcmp(a, "--root"))
      o.root = v;
    else if (!strcmp(a, "--app"))
      o.app = v;
    else if (!strcmp(a, "--hostname"))
      hostname = v;
    else if (!strcmp(a, "--disk-size"))
      o.diskSize = v;
    else if (!strcmp(a, "--disk-inodes"))
      o.diskInodes = v;
    else if (!strcmp(a, "--seccomp"))
      seccompPath = v;
    else if (!strcmp(a, "--gid"))
      shared.gid = o.gid = (gid_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--base"))
      base = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--size"))
      count = (unsigned)strtoul(v, NULL, 10);
    else
      return usage("unknown option");
  }
  if (!o.root || !o.app || !hostname || count == 0) return usage("missing arguments");
  if (strlen(o.root) > kPathMax - 64) return usage("--root path too long");
  if (fcntl(KUIGA_INIT_REPORT_FD, F_SETFD, FD_CLOEXEC) < 0) return usage("no report fd 3");

  sigset_t set;
  sigemptyset(&set);
  static const int taken[] = {SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD};
  for (size_t k = 0; k < sizeof taken / sizeof taken[0]; ++k) sigaddset(&set, taken[k]);
  sigprocmask(SIG_BLOCK, &set, NULL);

  devices = calloc(count, sizeof *devices);
  must(devices != NULL, "alloc-devices");
  for (unsigned i = 0; i < count; ++i) devices[i].in = devices[i].out = -1;
  if (seccompPath && *seccompPath) {
    shared.seccompFd = open(seccompPath, O_RDONLY | O_CLOEXEC);
    must(shared.seccompFd >= 0, "open-seccomp");
  }
  setupMounts(&o);
  must(sethostname(hostname, strlen(hostname)) == 0, "sethostname");
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  must(sfd >= 0 && epfd >= 0, "epoll");
  must(fcntl(0, F_SETFL, O_NONBLOCK) == 0, "control-nonblock");
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = kControlKey};
  must(epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) == 0, "epoll-control");
  ev.data.u32 = kSignalKey;
  must(epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) == 0, "epoll-signals");
  deviceReport("ready");

  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epfd, events, 64, -1);
    for (int k = 0; k < n; ++k) {
      uint32_t key = events[k].data.u32;
      if (key == kControlKey) {
        readCommands();
      } else if (key == kSignalKey) {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == sizeof si)
          if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP)
            return 0; /* the group goes: the kernel kills its PID namespace with us */
        reap();
      } else if (key < count && devices[key].out >= 0) {
        forward(base + key, &devices[key]);
      }
    }
  }
}
