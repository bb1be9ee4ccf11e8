#include "bench/seccomp_bench.hpp"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/jitter.hpp"
#include "sys/fd.hpp"
#include "sys/process.hpp"
#include "worker/ns/seccomp_policy.hpp"

namespace kuiga::bench {

namespace {

// What a child sends back: the install's time, and the errnos of two calls after it.
struct Sample {
  double micros = -1;
  int installErrno = 0;  // when the filter could not be installed (micros < 0)
  int clone3Errno = 0;
  int perfErrno = 0;
};

// In the child: installs `prog` as kuiga-init does (after PR_SET_NO_NEW_PRIVS), times that
// call alone, then tries two calls the filter refuses, with arguments the kernel would refuse
// otherwise with another errno, to anyone: clone3 (ENOSYS from the filter; EINVAL from a kernel
// that has it, which a kernel before 5.3 does not) and perf_event_open (EPERM from the filter;
// EFAULT, no attributes, from the kernel). Never returns.
[[noreturn]] void installAndReport(const sock_fprog& prog, int out) {
  Sample s;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) {
    timespec a{}, b{};
    ::clock_gettime(CLOCK_MONOTONIC, &a);
    const int rc = ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
    const int err = errno;
    ::clock_gettime(CLOCK_MONOTONIC, &b);
    if (rc == 0) {
      s.micros = static_cast<double>(b.tv_sec - a.tv_sec) * 1e6 +
                 static_cast<double>(b.tv_nsec - a.tv_nsec) / 1e3;
      s.clone3Errno = ::syscall(SYS_clone3, nullptr, 0) < 0 ? errno : 0;
      s.perfErrno = ::syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0) < 0 ? errno : 0;
    } else {
      s.installErrno = err;
    }
  } else {
    s.installErrno = errno;
  }
  (void)!::write(out, &s, sizeof s);
  ::_exit(0);
}

Result<Sample> sampleOnce(const sock_fprog& prog) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) return failSys("pipe");
  sys::UniqueFd in(p[0]), out(p[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return failSys("fork");
  if (pid == 0) installAndReport(prog, out.get());
  out.reset();
  Sample s;
  const ssize_t got = ::read(in.get(), &s, sizeof s);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got != static_cast<ssize_t>(sizeof s))
    return failMsg("a child ended before it reported, " +
                   sys::ExitStatus::fromWaitStatus(status).describe());
  if (s.micros < 0)
    return failMsg(std::string("the kernel refused the filter: ") + std::strerror(s.installErrno));
  return s;
}

}  // namespace

Result<nlohmann::json> runSeccompBench(const SeccompBenchOptions& opts) {
  auto filter = worker::ns::defaultSeccompFilter();
  if (!filter) return fail(filter.error());
  const std::string bpf = std::move(*filter);
  sock_fprog prog{static_cast<unsigned short>(bpf.size() / sizeof(sock_filter)),
                  reinterpret_cast<sock_filter*>(const_cast<char*>(bpf.data()))};
  std::vector<double> micros;
  size_t refused = 0;
  for (uint32_t i = 0; i < opts.count; ++i) {
    auto s = sampleOnce(prog);
    if (!s) return fail(s.error());
    micros.push_back(s->micros);
    refused += s->clone3Errno == ENOSYS && s->perfErrno == EPERM;
  }
  const JitterStats st = summarize(micros);
  nlohmann::json out;
  out["count"] = opts.count;
  out["instructions"] = prog.len;
  out["install_us"] = {{"mean", st.mean}, {"p50", st.p50}, {"p99", st.p99}, {"max", st.max}};
  out["refused"] = refused;
  out["failed"] = opts.count - refused;  // a filter that let either call through is no filter
  return out;
}

}  // namespace kuiga::bench
