#ifndef KUIGA_WORKER_NS_INIT_INIT_COMMON_H
#define KUIGA_WORKER_NS_INIT_INIT_COMMON_H
/* What kuiga-init's two modes share: reporting to the worker, the mount namespace, and the
 * AUT's exec as an unprivileged user. init_main.c is an isolated instance's init (one AUT);
 * group_init.c is a group's (many devices, issue 20's `isolation: group`). */
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* Paths built here are the skeleton's (/run/kuiga/NAME/root/...), which the worker keeps short;
 * small buffers keep init's stack, which every instance pays for, to a page or two. */
enum { kPathMax = 512 };

struct mountOptions {
  const char* root;       /* prepared read-only view of the host root */
  const char* app;        /* host dir shown at /app */
  const char* diskSize;   /* the private tmpfs: /run, /tmp, /dev/shm and /work together */
  const char* diskInodes; /* and its inode cap */
  uid_t uid;              /* owner of /work (isolated) */
  gid_t gid;
  int group; /* a group's: /run/dev holds each device's private directory; /work is not bound */
  /* Cloned by the zygote (zygote_proto.h): the mount namespace is a copy of the zygote's, whose
   * root is the skeleton already, and the app comes as appFd, a detached mount the worker made
   * with open_tree(), moved onto /app. No pivot_root. */
  int rooted;
  int appFd;
};

struct autSpec {
  uid_t uid;
  gid_t gid;
  int seccompFd;   /* the worker's filter (raw BPF), read with pread; -1: none */
  const char* cwd; /* made the AUT's working directory */
  long nproc;      /* RLIMIT_NPROC for its uid, 0: none (the AUT has a pids cgroup of its own) */
  char** argv;     /* argv[0] is the path inside the instance */
  char** envp;     /* NULL: init's own environment */
};

/* Stores an option both modes take (--root, --app, --hostname, --disk-size, --disk-inodes,
 * --seccomp, --gid); 1 when `a` is one of them. */
int commonOption(struct mountOptions* o, const char** hostname, const char** seccompPath,
                 const char* a, const char* v);
/* Blocks every signal init acts on, into `set`. Blocked signals queue even for a namespace's
 * PID 1, which would otherwise drop signals it has no handler for; init takes them with
 * sigwaitinfo() or a signalfd. */
void blockTakenSignals(sigset_t* set);
void report(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void setupFailed(const char* stage);
void must(int ok, const char* stage);
/* Sets up the mount namespace init was cloned into and makes the skeleton its root. */
void setupMounts(const struct mountOptions* o);
/* In a child before its exec: writes "ERRNO STAGE" to errPipe (errno now) and exits 127. */
_Noreturn void execFailed(int errPipe, const char* stage);
/* In the forked child: drops every privilege, applies the filter and execs; on failure writes
 * "ERRNO STAGE" to errPipe and exits 127. */
_Noreturn void execAut(const struct autSpec* a, int errPipe);
/* Waits for the child's exec: 0 once it exec'd (errPipe closed on exec), else 1 with the errno
 * and stage it wrote. */
int execOutcome(int errPipe, int* err, char* stage, size_t n);
int groupMain(int argc, char** argv);
int zygoteMain(int argc, char** argv);

#endif
