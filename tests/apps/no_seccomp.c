/* Runs a command where installing a seccomp filter fails with EPERM, as in a container whose
 * own filter refuses it: prctl(PR_SET_SECCOMP) and seccomp(2) are refused, everything else is
 * allowed. With --kill, a process that calls prctl(PR_SET_SECCOMP) is killed instead (SIGSYS),
 * as by a filter whose action is to kill. For the seccomp benchmark's error paths. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define REFUSE BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

int main(int argc, char** argv) {
  /* What prctl(PR_SET_SECCOMP) gets. seccomp(2) is refused either way: libseccomp probes the
   * kernel with it in the benchmark's own process, which --kill must leave alive. */
  unsigned refusal = SECCOMP_RET_ERRNO | EPERM;
  if (argc > 1 && !strcmp(argv[1], "--kill")) {
    refusal = SECCOMP_RET_KILL_PROCESS;
    ++argv;
    --argc;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: no_seccomp [--kill] PROGRAM [ARG...]\n");
    return 2;
  }
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_seccomp, 0, 1),
      REFUSE,
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_SECCOMP, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, refusal),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof code / sizeof code[0], code};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
    fprintf(stderr, "no_seccomp: %s\n", strerror(errno));
    return 1;
  }
  execv(argv[1], argv + 1);
  fprintf(stderr, "no_seccomp: exec %s: %s\n", argv[1], strerror(errno));
  return 127;
}
