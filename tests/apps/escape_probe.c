/* Tries what a contained AUT must not do, and prints each call's result ("unshare-user: OK" or
 * "unshare-user: EPERM"): new namespaces (by unshare, clone and clone3), mounts, kernel keys,
 * eBPF, performance counters, userfaultfd, kernel modules, setns. A plain fork must work. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char* what, long rc) {
  printf("%s: %s\n", what, rc < 0 ? strerrorname_np(errno) : "OK");
}

static long cloneWith(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return pid;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  pid_t p = fork();
  if (p == 0) _exit(0);
  if (p > 0) waitpid(p, NULL, 0);
  say("fork", p);
  say("clone-user", cloneWith(CLONE_NEWUSER));
  say("clone-net", cloneWith(CLONE_NEWNET));
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  long c3 = syscall(SYS_clone3, &args, sizeof args);
  if (c3 == 0) _exit(0);
  if (c3 > 0) waitpid((pid_t)c3, NULL, 0);
  say("clone3-user", c3);
  say("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
  say("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
  say("bpf", syscall(SYS_bpf, 0, NULL, 0));
  say("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
  say("userfaultfd", syscall(SYS_userfaultfd, 0));
  say("init_module", syscall(SYS_init_module, NULL, 0, ""));
  say("setns", setns(0, 0));
  /* Last: a success would leave this process in a namespace of its own. */
  say("unshare-net", unshare(CLONE_NEWNET));
  say("unshare-user", unshare(CLONE_NEWUSER));
  puts("probe done");
  for (;;) pause();
}
