/* kuiga-init --zygote ROOT: clones isolated instances' inits, already standing in the root
 * skeleton (zygote_proto.h says why and how it is asked). One per worker, started by it in a
 * mount namespace of its own; it ends when the worker closes the socket. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "worker/ns/init/init_common.h"
#include "worker/ns/init/zygote_proto.h"

/* Descriptors at or above this number are the zygote's own; an init's are below it. */
enum { kOwnFds = 16, kMaxStrings = 1024 };

static char message[KUIGA_ZYGOTE_MAX_MESSAGE];
static char* strings[kMaxStrings + 2];

/* The cloned child runs on this stack, in the zygote's own memory (CLONE_VM), until its exec,
 * as posix_spawn's child does: the clone copies none of the zygote's page tables, and the exec
 * has no copy to tear down. Each of those is a round of page-table updates and TLB flushes,
 * dear on a paravirtualized host, and every create waits for the zygote (docs/performance.md,
 * "Page tables at every init"). The zygote waits (CLONE_VFORK), so the two never run on this
 * memory at once. */
static _Alignas(16) char childStack[64 * 1024];

struct child {
  const struct zygoteRequest* q;
  const int* fds;
  int initFd;
  char** argv;
  char** envp;
  int errPipe;
};

static int moveUp(int fd) {
  int up = fcntl(fd, F_DUPFD_CLOEXEC, kOwnFds);
  close(fd);
  return up;
}

static void reply(int sock, int pid, int err, const char* stage) {
  struct zygoteReply r = {.pid = pid, .err = err};
  snprintf(r.stage, sizeof r.stage, "%s", stage);
  if (send(sock, &r, sizeof r, MSG_NOSIGNAL) != (ssize_t)sizeof r) _exit(1);
}

/* The cloned child: in its cgroup, its descriptors where the request says, the others closed
 * at exec. Only system calls: it shares the zygote's memory. */
static int becomeInit(void* arg) {
  const struct child* c = arg;
  const struct zygoteRequest* q = c->q;
  const int* fds = c->fds;
  /* Into its cgroup (v2) before anything else: writing 0 to cgroup.procs moves the writer. */
  const char* stage = "cgroup";
  if (q->cgroupIndex >= 0) {
    int procs = openat(fds[q->cgroupIndex], "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs < 0 || write(procs, "0", 1) != 1) goto failed;
    close(procs);
  }
  stage = "dup-fds";
  for (uint32_t k = 0; k < q->nfds; ++k)
    if ((int)k != q->cgroupIndex && dup2(fds[k], q->targets[k]) < 0) goto failed;
  for (int fd = 0; fd < kOwnFds; ++fd) {
    int wanted = 0;
    for (uint32_t k = 0; k < q->nfds; ++k)
      wanted |= (int)k != q->cgroupIndex && q->targets[k] == fd;
    if (!wanted) close(fd);
  }
  /* A session of its own, and so a scheduler autogroup of its own: 10,000 instances then
   * outweigh a busy neighbour together. In the zygote's one autogroup they weighed what one
   * process does, and fell seconds behind (docs/performance.md, "the devices' share"). */
  stage = "setsid";
  if (setsid() < 0) goto failed;
  sigset_t blocked;
  sigemptyset(&blocked);
  for (int s = 1; s <= 64; ++s)
    if (q->blockedSignals >> (s - 1) & 1) sigaddset(&blocked, s);
  stage = "sigprocmask";
  if (sigprocmask(SIG_SETMASK, &blocked, NULL) < 0) goto failed;
  stage = "exec";
  syscall(SYS_execveat, c->initFd, "", c->argv, c->envp, AT_EMPTY_PATH);
failed:
  execFailed(c->errPipe, stage);
}

/* Checks a request and finds its strings; the error's stage, or NULL. */
static const char* parse(const struct zygoteRequest* q, size_t n, int nfds) {
  if (n < sizeof *q || (int)q->nfds != nfds || q->argc == 0 || q->argc + q->envc > kMaxStrings ||
      q->cgroupIndex >= (int)q->nfds)
    return "bad-request";
  for (uint32_t k = 0; k < q->nfds; ++k)
    if ((int)k != q->cgroupIndex && (q->targets[k] < 0 || q->targets[k] >= kOwnFds))
      return "bad-request";
  char* p = message + sizeof *q;
  char* end = message + n;
  for (uint32_t k = 0; k < q->argc + q->envc; ++k) {
    char* nul = memchr(p, '\0', (size_t)(end - p));
    if (!nul) return "bad-request";
    strings[k + (k >= q->argc)] = p;  // argv, NULL, envp, NULL
    p = nul + 1;
  }
  strings[q->argc] = NULL;
  strings[q->argc + q->envc + 1] = NULL;
  return NULL;
}

/* One request: clone the init, wait for its exec (CLONE_VFORK), say how it went. */
static void serve(int sock, int initFd, size_t n, int* fds, int nfds) {
  const struct zygoteRequest* q = (const struct zygoteRequest*)message;
  const char* bad = parse(q, n, nfds);
  if (bad) {
    reply(sock, 0, EINVAL, bad);
    return;
  }
  int errPipe[2];
  if (pipe2(errPipe, O_CLOEXEC) < 0) {
    reply(sock, 0, errno, "pipe");
    return;
  }
  errPipe[0] = moveUp(errPipe[0]);
  errPipe[1] = moveUp(errPipe[1]);
  struct child c = {q, fds, initFd, strings, strings + q->argc + 1, errPipe[1]};
  /* CLONE_PARENT: the worker's child, which it reaps; the kernel gives it the zygote's exit
   * signal (SIGCHLD), whatever the low byte of the flags says. */
  int flags = (int)q->namespaces | CLONE_PARENT | CLONE_VM | CLONE_VFORK;
  int pid = clone(becomeInit, childStack + sizeof childStack, flags, &c);
  int e = pid < 0 ? errno : 0;
  close(errPipe[1]);
  char what[32] = "clone";
  /* The child's "ERRNO STAGE", or nothing once it exec'd (the pipe closed with it). */
  if (pid > 0 && !execOutcome(errPipe[0], &e, what, sizeof what)) e = 0;
  close(errPipe[0]);
  reply(sock, pid > 0 ? pid : 0, e, e ? what : "");
}

int zygoteMain(int argc, char** argv) {
  if (argc != 2) return 2;
  /* Its standard descriptors on /dev/null, so that nothing it opens lands on 0 to 2. */
  for (int fd; (fd = open("/dev/null", O_RDWR)) >= 0 && fd < 3;) {
  }
  int sock = moveUp(KUIGA_ZYGOTE_SOCKET_FD);
  int initFd = moveUp(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (sock < 0) return 2;
  const char* stage = "open-self";
  if (initFd < 0) goto failed;
  /* The skeleton as its root, once; every init cloned from it has a copy of this tree. */
  stage = "make-mounts-private";
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) goto failed;
  stage = "pivot-root";
  if (chdir(argv[1]) < 0 || syscall(SYS_pivot_root, ".", ".") < 0) goto failed;
  stage = "detach-old-root";
  if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) goto failed;
  reply(sock, 0, 0, "ready");
  for (;;) {
    char control[CMSG_SPACE(sizeof(int) * KUIGA_ZYGOTE_MAX_FDS)];
    struct iovec iov = {message, sizeof message};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0; /* the worker is gone */
    int fds[KUIGA_ZYGOTE_MAX_FDS];
    int nfds = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int j = 0; j < k; ++j) {
          int fd;
          memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof fd);
          if (nfds < KUIGA_ZYGOTE_MAX_FDS)
            fds[nfds++] = moveUp(fd);
          else
            close(fd);
        }
      }
    if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
      reply(sock, 0, E2BIG, "bad-request");
    else
      serve(sock, initFd, (size_t)n, fds, nfds);
    for (int k = 0; k < nfds; ++k) close(fds[k]);
  }
failed:
  reply(sock, 0, errno, stage);
  return 1;
}
