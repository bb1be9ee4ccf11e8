#include "worker/ns/seccomp_policy.hpp"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace kuiga::worker::ns {

namespace {

// Namespaces, mounts, kernel keyrings, eBPF, performance counters, userfaultfd, kernel modules
// and images, and what only an administrator of the host does (clock, swap, reboot, accounting,
// raw I/O ports, file handles): Docker's default profile allows none of them to a container
// without capabilities. ptrace, personality and process_vm_* stay allowed, as there: they reach
// no further than the instance's own PID namespace and uid.
const std::vector<std::string> kRefused = {"unshare",
                                           "setns",
                                           "mount",
                                           "umount",
                                           "umount2",
                                           "pivot_root",
                                           "chroot",
                                           "fsopen",
                                           "fsconfig",
                                           "fsmount",
                                           "fspick",
                                           "move_mount",
                                           "open_tree",
                                           "mount_setattr",
                                           "keyctl",
                                           "add_key",
                                           "request_key",
                                           "bpf",
                                           "perf_event_open",
                                           "userfaultfd",
                                           "init_module",
                                           "finit_module",
                                           "delete_module",
                                           "create_module",
                                           "kexec_load",
                                           "kexec_file_load",
                                           "reboot",
                                           "swapon",
                                           "swapoff",
                                           "acct",
                                           "settimeofday",
                                           "clock_settime",
                                           "clock_adjtime",
                                           "adjtimex",
                                           "stime",
                                           "iopl",
                                           "ioperm",
                                           "quotactl",
                                           "quotactl_fd",
                                           "lookup_dcookie",
                                           "open_by_handle_at",
                                           "name_to_handle_at",
                                           "syslog",
                                           "vhangup",
                                           "nfsservctl",
                                           "_sysctl",
                                           "uselib",
                                           "get_kernel_syms",
                                           "query_module",
                                           "sethostname",
                                           "setdomainname",
                                           "fanotify_init",
                                           "pciconfig_read",
                                           "pciconfig_write",
                                           "pciconfig_iobase"};

// Flags that make a new namespace, refused in clone (and so in fork-like calls that pass them).
constexpr uint64_t kNewNamespaces[] = {CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWNET,   CLONE_NEWPID,
                                       CLONE_NEWUTS,  CLONE_NEWIPC, CLONE_NEWCGROUP};

struct CtxDeleter {
  void operator()(scmp_filter_ctx c) const { seccomp_release(c); }
};

}  // namespace

const std::vector<std::string>& refusedSyscalls() {
  return kRefused;
}

Result<std::string> defaultSeccompFilter() {
  std::unique_ptr<void, CtxDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return failMsg("seccomp: cannot make a filter");
  // The refused calls as a binary tree, not a chain of comparisons: installing a filter, every
  // instance's last step before its exec, makes the kernel run it once for every system call
  // number of both ABIs (to know which it may skip the filter for), and a chain made that cost
  // grow with the refused calls' count: about 250 us an install as a chain, 80 us as a tree
  // (`kuiga bench seccomp`, docs/performance.md). A libseccomp before 2.5 has no tree: the
  // chain then refuses the same calls, and the log says why the starts cost more.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0)
    spdlog::warn("seccomp: no binary tree from this libseccomp ({}); the filter is a chain",
                 std::strerror(-rc));
  // The native ABI and the 32-bit ones a 64-bit kernel runs (x86: RIOT native; x32).
  for (uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32})
    if (int rc = seccomp_arch_add(ctx.get(), arch); rc < 0 && rc != -EEXIST && rc != -EDOM)
      return failMsg(fmt::format("seccomp: add architecture: {}", std::strerror(-rc)));
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  for (const auto& name : kRefused) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not a call of these architectures
    if (int rc = seccomp_rule_add(ctx.get(), eperm, nr, 0); rc < 0)
      return failMsg(fmt::format("seccomp: refuse {}: {}", name, std::strerror(-rc)));
  }
  for (uint64_t flag : kNewNamespaces)
    if (int rc = seccomp_rule_add(ctx.get(), eperm, SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
        rc < 0)
      return failMsg(fmt::format("seccomp: clone flags: {}", std::strerror(-rc)));
  // clone3 passes its flags in memory, out of a filter's sight: ENOSYS makes glibc use clone.
  int clone3 = seccomp_syscall_resolve_name("clone3");
  if (clone3 != __NR_SCMP_ERROR)
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), clone3, 0); rc < 0)
      return failMsg(fmt::format("seccomp: clone3: {}", std::strerror(-rc)));
  // libseccomp exports to a file descriptor: a memory file, read back whole.
  FILE* mem = std::tmpfile();
  if (!mem) return failSys("seccomp: temporary file");
  std::unique_ptr<FILE, int (*)(FILE*)> guard(mem, &std::fclose);
  if (int rc = seccomp_export_bpf(ctx.get(), fileno(mem)); rc < 0)
    return failMsg(fmt::format("seccomp: export: {}", std::strerror(-rc)));
  std::string out;
  std::rewind(mem);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, mem)) > 0;) out.append(buf, n);
  if (out.empty() || out.size() % 8 != 0) return failMsg("seccomp: the exported filter is empty");
  return out;
}

}  // namespace kuiga::worker::ns
