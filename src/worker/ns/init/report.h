#ifndef KUIGA_WORKER_NS_INIT_REPORT_H
#define KUIGA_WORKER_NS_INIT_REPORT_H
/* The instance init reports to the worker through a FIFO, one text record per line:
 *   ready                       namespaces, mounts and hostname are set up
 *   setup-failed ERRNO STAGE    the instance could not be set up; init exits 125
 *   started PID                 the AUT was exec'd (PID inside the instance)
 *   exec-failed ERRNO STAGE     the AUT could not be exec'd (STAGE: exec, setuid, ...)
 *   exit CODE | signal SIGNO    how the AUT ended; init exits right after
 * The worker appends one record of its own, for recovery (a tmpfs file takes a page however
 * small, so the instance has one file, not two):
 *   state {JSON}                run, index, init's PID and start time, AUT, network mode
 * A group's init (kuiga-init --group, group_init.c) reports "ready" and "setup-failed" for
 * the group, and each device's life with its index:
 *   added INDEX                 its private directory is made; it waits for start
 *   dev-failed INDEX ERRNO STAGE  it could not be added
 *   started INDEX PID | exec-failed INDEX ERRNO STAGE
 *   exit INDEX CODE | signal INDEX SIGNO   how its AUT ended (or "exit INDEX 0": stopped
 *                               before it started); the last record of a device
 * and, in the report file only, what each sweep of ended devices' helpers took:
 *   swept UIDS PASSES KILLED FALLBACK  uids swept, passes over /proc, processes killed, and 1
 *                               when a fork loop outran 16 passes and kill(-1) took the rest
 * Text keeps the protocol readable with `cat` when debugging a stuck instance.
 * C, because kuiga-init is C (built against musl); the worker reads it through report.hpp. */
#define KUIGA_INIT_REPORT_FD 3
#define KUIGA_INIT_SETUP_FAILED_CODE 125
#endif
