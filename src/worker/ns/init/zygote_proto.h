#ifndef KUIGA_WORKER_NS_INIT_ZYGOTE_PROTO_H
#define KUIGA_WORKER_NS_INIT_ZYGOTE_PROTO_H
/* The zygote (kuiga-init --zygote ROOT, zygote.c) clones isolated instances' inits for the
 * worker. It made the root skeleton its own root once, with pivot_root; an init cloned from it
 * with CLONE_NEWNS gets a copy of that small mount tree, already rooted, and needs no pivot_root
 * of its own. pivot_root walks every task of the host (chroot_fs_refs), which at 10,000
 * instances was the largest cost of a create that grows with their number.
 *
 * Over a SOCK_SEQPACKET socket (the zygote's descriptor 3), one message per init:
 *   worker -> zygote: struct zygoteRequest, then argc + envc NUL-terminated strings, with the
 *                     descriptors the init gets in SCM_RIGHTS (nfds of them, in order)
 *   zygote -> worker: struct zygoteReply
 * The init is cloned with CLONE_PARENT: it is the worker's child, as one it spawned itself
 * would be, and the worker waits for it and reaps it. The zygote only clones.
 * C, because kuiga-init is C; the worker includes it from zygote.cpp. */
#include <stdint.h>

#define KUIGA_ZYGOTE_SOCKET_FD 3
#define KUIGA_ZYGOTE_MAX_FDS 8
#define KUIGA_ZYGOTE_MAX_MESSAGE 65536

struct zygoteRequest {
  uint32_t namespaces;                   /* CLONE_NEW* flags */
  uint32_t nfds;                         /* descriptors that came with the message */
  int32_t targets[KUIGA_ZYGOTE_MAX_FDS]; /* each one's number in the init, below 16 */
  int32_t cgroupIndex; /* which is the v2 cgroup the init enters before exec (not kept); -1 */
  uint32_t argc, envc;
  uint64_t blockedSignals; /* bit s-1 for signal s: blocked across exec, so they queue */
};

struct zygoteReply {
  int32_t pid; /* the init's, in the worker's PID namespace; 0 when none was cloned */
  int32_t err; /* 0, or the errno of `stage` */
  char stage[32];
};

#endif
