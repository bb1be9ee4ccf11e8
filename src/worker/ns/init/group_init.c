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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "worker/ns/init/init_common.h"
#include "worker/ns/init/report.h"

/* Launching: forked, its exec not yet known (init forks a thousand devices without waiting
 * for each exec: they exec in parallel on every core). */
enum { kFree, kAdded, kLaunching, kStarted, kEnded };
enum { kMaxPayload = 1 << 20, kControlKey = UINT32_MAX, kSignalKey = UINT32_MAX - 1 };
#define kLaunchBit 0x40000000u /* epoll key of a launching device's exec pipe: slot | bit */
/* Descriptors kept at fixed numbers for the device being launched: its stdin and output ends,
 * its exec pipe, the seccomp filter, and /dev/null, which holds the first three between
 * launches. Every other descriptor of the group's init is 9 or above. */
enum { kChildIn = 4, kChildOut = 5, kChildExec = 6, kSeccompFd = 7, kNullFd = 8, kFirstFree = 9 };

struct device {
  pid_t pid;
  uid_t uid;
  long nproc;
  int in, out; /* its stdin's write end and its output's read end; -1 when closed */
  int launch;  /* while launching: the read end of the pipe its exec closes or reports on */
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

/* Every process of `uid`, at once: a child that takes the uid and signals everything it may.
 * It runs in init's memory and descriptor table and init waits for it (a fork copied init's
 * page tables and thousands of descriptors). The kernel walks every task of the host for it:
 * the fallback of sweep() only. */
static int killerMain(void* arg) {
  uid_t uid = *(const uid_t*)arg;
  if (setresuid(uid, uid, uid) == 0) kill(-1, SIGKILL);
  _exit(0);
}

static void killUid(uid_t uid) {
  static char stack[16 * 1024] __attribute__((aligned(16)));
  clone(killerMain, stack + sizeof stack, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &uid);
}

/* Every process of an ended device's uid: its helpers outlive its main process otherwise.
 * Uids are marked and swept together in one pass over this namespace's /proc, not one kill(-1)
 * per device as the uid: the kernel walks every task of the host for each
 * kill(-1) under its task-list lock, and stopping 50,000 devices that way (50,000 walks of
 * 100,000 tasks) stalled the host for minutes. A pass costs a stat per process of the group. */
static uid_t* sweepUids;
static size_t sweepLen, sweepCap;
/* A pass is taken when the init is idle, or at the latest sweepEvery ms after the first mark:
 * while a stop ends thousands of devices, one pass takes the helpers of hundreds. The interval
 * grows with what a pass costs, so that passes never take more than a tenth of init's time. */
static long long sweepDue = -1, sweepEvery = 100;

static long long nowMs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void markSweep(uid_t uid) {
  if (sweepDue < 0) sweepDue = nowMs() + sweepEvery;
  if (sweepLen == sweepCap) {
    size_t cap = sweepCap ? sweepCap * 2 : 64;
    uid_t* grown = realloc(sweepUids, cap * sizeof *grown);
    if (!grown) return; /* the pass after the next mark takes it */
    sweepUids = grown;
    sweepCap = cap;
  }
  sweepUids[sweepLen++] = uid;
}

static int compareUid(const void* a, const void* b) {
  uid_t x = *(const uid_t*)a, y = *(const uid_t*)b;
  return (x > y) - (x < y);
}

static int comparePid(const void* a, const void* b) {
  pid_t x = *(const pid_t*)a, y = *(const pid_t*)b;
  return (x > y) - (x < y);
}

/* Marks are sorted when a sweep begins (sweep()); a start asks between sweeps, unsorted. */
static int marked(uid_t uid) {
  for (size_t k = 0; k < sweepLen; ++k)
    if (sweepUids[k] == uid) return 1;
  return 0;
}

/* The process's real uid and state, from its status: its /proc directory belongs to root when
 * it made itself undumpable. 0 and 0 when it is gone. */
static uid_t statusOf(int proc, pid_t pid, char* state) {
  char path[32], buf[1024];
  *state = 0;
  snprintf(path, sizeof path, "%d/status", (int)pid);
  int fd = openat(proc, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* s = strstr(buf, "\nState:");
  if (s) *state = s[strspn(s + 7, " \t") + 7];
  const char* u = strstr(buf, "\nUid:");
  return u ? (uid_t)strtoul(u + 5, NULL, 10) : 0;
}

/* What one sweep has signalled so far, sorted up to killedSorted: a process that a pass killed
 * may still be exiting, or be a zombie until init reaps it, when the next pass sees it. */
static pid_t* killedPids;
static size_t killedLen, killedCap, killedSorted;

static int alreadyKilled(pid_t pid) {
  return killedSorted && bsearch(&pid, killedPids, killedSorted, sizeof pid, comparePid);
}

static void noteKilled(pid_t pid) {
  if (killedLen == killedCap) {
    size_t cap = killedCap ? killedCap * 2 : 256;
    pid_t* grown = realloc(killedPids, cap * sizeof *grown);
    if (!grown) return; /* then the next pass signals it again, which is harmless */
    killedPids = grown;
    killedCap = cap;
  }
  killedPids[killedLen++] = pid;
}

/* One pass: SIGKILL to every live process of a marked uid (sweepUids sorted) that no earlier
 * pass of this sweep signalled; how many that was. */
static int sweepPass(void) {
  int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) return 0;
  DIR* dir = fdopendir(dup(proc));
  int killed = 0;
  for (struct dirent* e; dir && (e = readdir(dir));) {
    pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
    struct stat st;
    if (pid <= 1 || fstatat(proc, e->d_name, &st, 0) < 0) continue;
    if (st.st_uid != 0 && !bsearch(&st.st_uid, sweepUids, sweepLen, sizeof st.st_uid, compareUid))
      continue; /* the common case: a device still running */
    if (alreadyKilled(pid)) continue;
    char state;
    uid_t uid = statusOf(proc, pid, &state);
    if (uid == 0 || state == 'Z' || state == 'X' ||
        !bsearch(&uid, sweepUids, sweepLen, sizeof uid, compareUid))
      continue;
    if (kill(pid, SIGKILL) == 0) {
      noteKilled(pid);
      ++killed;
    }
  }
  if (dir) closedir(dir);
  close(proc);
  qsort(killedPids, killedLen, sizeof *killedPids, comparePid);
  killedSorted = killedLen;
  return killed;
}

/* Passes until one finds nothing new: a helper that forked while a pass ran is taken by the
 * next (RLIMIT_NPROC bounds how many it can make). Only when 16 passes each found new
 * processes (a fork loop outrunning them), one kill(-1) per uid. The report file gets
 * "swept UIDS PASSES KILLED FALLBACK" (report.h). */
static void sweep(void) {
  if (!sweepLen) return;
  long long t0 = nowMs();
  qsort(sweepUids, sweepLen, sizeof *sweepUids, compareUid);
  size_t unique = 0; /* a device stopped by SIGKILL is marked twice: at the kill, at its end */
  for (size_t k = 0; k < sweepLen; ++k)
    if (unique == 0 || sweepUids[unique - 1] != sweepUids[k]) sweepUids[unique++] = sweepUids[k];
  sweepLen = unique;
  killedLen = killedSorted = 0;
  int passes = 0, found = 0, killed = 0;
  while (passes < 16 && (found = sweepPass()) > 0) {
    killed += found;
    ++passes;
  }
  int fallback = found > 0;
  if (fallback)
    for (size_t k = 0; k < sweepLen; ++k) killUid(sweepUids[k]);
  /* For the record only: a report file that takes no more (a full disk) does not end a group
   * whose devices run on. */
  char rec[96];
  int n = snprintf(rec, sizeof rec, "swept %zu %d %d %d\n", sweepLen, passes + !fallback, killed,
                   fallback);
  ssize_t ignored = write(KUIGA_INIT_REPORT_FD, rec, (size_t)n);
  (void)ignored;
  sweepLen = 0;
  sweepDue = -1;
  long long took = nowMs() - t0;
  sweepEvery = took * 10 > 100 ? took * 10 : 100;
}

static void ended(unsigned index, struct device* d, int status) {
  for (int k = 0; k < 64 && d->out >= 0 && forward(index, d);) ++k; /* what it left unread */
  closeFd(&d->out);
  closeFd(&d->in);
  markSweep(d->uid);
  d->pid = 0;
  d->state = kEnded;
  if (WIFEXITED(status))
    deviceReport("exit %u %d", index, WEXITSTATUS(status));
  else
    deviceReport("signal %u %d", index, WTERMSIG(status));
}

/* Decides a launch once its exec pipe speaks: closed on exec (started), or "ERRNO STAGE"
 * (exec-failed; the child exits 127 and is reaped as no one's). 0 while undecided. */
static int resolveLaunch(unsigned index, struct device* d) {
  char buf[128];
  ssize_t n = read(d->launch, buf, sizeof buf - 1);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  closeFd(&d->launch);
  if (n > 0) {
    buf[n] = 0;
    const char* stage = strchr(buf, ' ');
    closeFd(&d->in);
    closeFd(&d->out);
    d->pid = 0;
    d->state = kEnded;
    deviceReport("exec-failed %u %d %s", index, atoi(buf), stage ? stage + 1 : "exec");
    return 1;
  }
  d->state = kStarted;
  deviceReport("started %u %d", index, d->pid);
  return 1;
}

static void reap(void) {
  int status;
  pid_t p;
  while ((p = waitpid(-1, &status, WNOHANG)) > 0)
    for (unsigned i = 0; i < count; ++i) {
      struct device* d = &devices[i];
      if (d->pid != p || (d->state != kStarted && d->state != kLaunching)) continue;
      /* Dead, so its exec pipe is closed or holds why: decide the launch first. */
      if (d->state == kLaunching) resolveLaunch(base + i, d);
      if (d->state == kStarted) ended(base + i, d, status);
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

static void launchFailed(unsigned index, struct device* d, int err, const char* stage) {
  free(d->spec);
  d->spec = NULL;
  d->state = kEnded;
  deviceReport("exec-failed %u %d %s", index, err, stage);
}

/* The launched device, on a stack of its own but in init's memory (CLONE_VM, init waits) and
 * sharing its descriptor table (CLONE_FILES): a fork would copy init's page tables and its
 * thousands of descriptors, and the exec would then flush each of those one by one. Instead
 * the device takes a table of its own with only descriptors 0 to 8 (CLOSE_RANGE_UNSHARE),
 * which closes none of init's. */
static int deviceMain(void* arg) {
  const struct autSpec* a = arg;
  if (syscall(SYS_close_range, kFirstFree, ~0U, CLOSE_RANGE_UNSHARE) < 0) _exit(127);
  if (dup2(kChildIn, 0) < 0 || dup2(kChildOut, 1) < 0 || dup2(kChildOut, 2) < 0) _exit(127);
  close(3); /* init's report file */
  close(kChildIn);
  close(kChildOut);
  close(kNullFd);
  /* Init is the OOM killer's last choice in its group; a device is an ordinary one. */
  int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (adj >= 0) {
    ssize_t ignored = write(adj, "0", 1);
    (void)ignored;
    close(adj);
  }
  execAut(a, kChildExec);
}

static void startDevice(unsigned index, struct device* d) {
  static char stack[64 * 1024] __attribute__((aligned(16)));
  char** envp;
  char** argv = vectors(d, &envp);
  if (!argv) return launchFailed(index, d, EINVAL, "spec");
  int in[2] = {-1, -1}, out[2] = {-1, -1}, errPipe[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errPipe, O_CLOEXEC) < 0 ||
      dup3(in[0], kChildIn, 0) < 0 || dup3(out[1], kChildOut, 0) < 0 ||
      dup3(errPipe[1], kChildExec, O_CLOEXEC) < 0) {
    int err = errno;
    int* fds[] = {&in[0], &in[1], &out[0], &out[1], &errPipe[0], &errPipe[1]};
    for (size_t k = 0; k < sizeof fds / sizeof fds[0]; ++k)
      if (*fds[k] >= 0) close(*fds[k]);
    free(argv);
    return launchFailed(index, d, err, "pipe");
  }
  close(in[0]);
  close(out[1]);
  close(errPipe[1]);
  char cwd[64];
  snprintf(cwd, sizeof cwd, "/run/dev/%u", index);
  struct autSpec a = shared;
  a.uid = d->uid;
  a.cwd = cwd;
  a.nproc = d->nproc;
  a.argv = argv;
  a.envp = envp;
  /* Returns once the device has exec'd (or died): only then may init touch its memory. */
  pid_t pid =
      clone(deviceMain, stack + sizeof stack, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &a);
  int forkErr = errno;
  /* The device's ends go from init's table; the /dev/null placeholders hold their numbers. */
  for (int fd = kChildIn; fd <= kChildExec; ++fd) dup3(kNullFd, fd, O_CLOEXEC);
  free(argv);
  if (pid < 0) {
    close(in[1]);
    close(out[0]);
    close(errPipe[0]);
    return launchFailed(index, d, forkErr, "clone");
  }
  free(d->spec);
  d->spec = NULL;
  d->pid = pid;
  d->in = in[1];
  d->out = out[0];
  d->launch = errPipe[0];
  d->state = kLaunching;
  fcntl(d->in, F_SETFL, O_NONBLOCK);
  fcntl(d->out, F_SETFL, O_NONBLOCK);
  fcntl(d->launch, F_SETFL, O_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = index - base};
  epoll_ctl(epfd, EPOLL_CTL_ADD, d->out, &ev);
  /* Its exec has happened or failed by now; the pipe says which (kept in epoll for a device
   * that died before writing). */
  if (resolveLaunch(index, d)) return;
  ev.data.u32 = (index - base) | kLaunchBit;
  epoll_ctl(epfd, EPOLL_CTL_ADD, d->launch, &ev);
}

static int removeEntry(const char* p, const struct stat* st, int flag, struct FTW* ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(p);
  return 0;
}

static void forget(unsigned index, struct device* d) {
  if (d->state == kStarted || d->state == kLaunching) markSweep(d->uid);
  closeFd(&d->out);
  closeFd(&d->in);
  closeFd(&d->launch);
  free(d->spec);
  memset(d, 0, sizeof *d);
  d->in = d->out = d->launch = -1;
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
    if (marked(d->uid)) sweep(); /* a uid the worker gave again: its old processes go first */
    startDevice(index, d);
  } else if (!strcmp(verb, "kill")) {
    if (d->state == kAdded) { /* stopped before it was started */
      d->state = kEnded;
      deviceReport("exit %u 0", index);
    } else if (d->state == kStarted || d->state == kLaunching) {
      kill(d->pid, (int)a1);
      if (a1 == SIGKILL) markSweep(d->uid);
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

/* Everything before the first command: descriptors, mounts, hostname, signals and epoll; returns
 * the signalfd. */
static int setUp(const struct mountOptions* o, const char* hostname, const char* seccompPath) {
  sigset_t set;
  blockTakenSignals(&set);
  devices = calloc(count, sizeof *devices);
  must(devices != NULL, "alloc-devices");
  for (unsigned i = 0; i < count; ++i) devices[i].in = devices[i].out = devices[i].launch = -1;
  /* The fixed descriptors before any other is opened (see kFirstFree). */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  must(null >= 0 && dup3(null, kNullFd, O_CLOEXEC) == kNullFd, "open-null");
  if (null != kNullFd) close(null);
  for (int fd = kChildIn; fd <= kSeccompFd; ++fd)
    must(dup3(kNullFd, fd, O_CLOEXEC) == fd, "reserve-fds");
  if (seccompPath && *seccompPath) {
    int f = open(seccompPath, O_RDONLY | O_CLOEXEC);
    must(f >= 0 && dup3(f, kSeccompFd, O_CLOEXEC) == kSeccompFd, "open-seccomp");
    close(f);
    shared.seccompFd = kSeccompFd;
  }
  setupMounts(o);
  must(sethostname(hostname, strlen(hostname)) == 0, "sethostname");
  /* A device that takes all of its group's memory is the OOM killer's choice, not the init
   * every other device needs (each device sets its own back to 0). Where lowering it is not
   * allowed (no CAP_SYS_RESOURCE), init is still small, and the largest process goes first. */
  int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (adj >= 0) {
    ssize_t ignored = write(adj, "-1000", 5);
    (void)ignored;
    close(adj);
  }
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  must(sfd >= 0 && epfd >= 0, "epoll");
  must(fcntl(0, F_SETFL, O_NONBLOCK) == 0, "control-nonblock");
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = kControlKey};
  must(epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) == 0, "epoll-control");
  ev.data.u32 = kSignalKey;
  must(epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) == 0, "epoll-signals");
  return sfd;
}

/* Returns when the group is told to go. */
static void serve(int sfd) {
  struct epoll_event events[64];
  for (;;) {
    int wait = -1;
    if (sweepLen) {
      long long left = sweepDue - nowMs();
      wait = left > 0 ? (int)left : 0;
    }
    int n = epoll_wait(epfd, events, 64, wait);
    for (int k = 0; k < n; ++k) {
      uint32_t key = events[k].data.u32;
      if (key == kControlKey) {
        readCommands();
      } else if (key == kSignalKey) {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == sizeof si)
          if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP)
            return; /* the group goes: the kernel kills its PID namespace with us */
        reap();
      } else if (key & kLaunchBit) {
        struct device* d = &devices[key & ~kLaunchBit];
        if (d->state == kLaunching) resolveLaunch(base + (key & ~kLaunchBit), d);
      } else if (key < count && devices[key].out >= 0) {
        forward(base + key, &devices[key]);
      }
    }
    /* The helpers of the devices that ended, once idle or due. */
    if (sweepLen && (n == 0 || nowMs() >= sweepDue)) sweep();
  }
}

int groupMain(int argc, char** argv) {
  struct mountOptions o = {.diskSize = "64m", .diskInodes = "16384", .group = 1};
  const char *hostname = NULL, *seccompPath = NULL;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) return usage("option without value");
    const char *a = argv[i], *v = argv[i + 1];
    if (commonOption(&o, &hostname, &seccompPath, a, v)) continue;
    if (!strcmp(a, "--base"))
      base = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--size"))
      count = (unsigned)strtoul(v, NULL, 10);
    else
      return usage("unknown option");
  }
  if (!o.root || !o.app || !hostname || count == 0) return usage("missing arguments");
  if (strlen(o.root) > kPathMax - 64) return usage("--root path too long");
  if (fcntl(KUIGA_INIT_REPORT_FD, F_SETFD, FD_CLOEXEC) < 0) return usage("no report fd 3");
  shared.gid = o.gid;
  int sfd = setUp(&o, hostname, seccompPath);
  deviceReport("ready");
  serve(sfd);
  return 0;
}
