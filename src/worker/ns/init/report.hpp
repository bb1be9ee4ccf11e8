#pragma once
// The instance init reports to the worker through a FIFO, one text record per line:
//   ready                       namespaces, mounts and hostname are set up
//   setup-failed ERRNO STAGE    the instance could not be set up; init exits 125
//   started PID                 the AUT was exec'd (PID inside the instance)
//   exec-failed ERRNO STAGE     the AUT could not be exec'd (STAGE: exec, setuid, ...)
//   exit CODE | signal SIGNO    how the AUT ended; init exits right after
// Text keeps the protocol readable with `cat` when debugging a stuck instance.
namespace kuiga::worker::ns {
constexpr int kInitReportFd = 3;
constexpr int kInitSetupFailedCode = 125;
}  // namespace kuiga::worker::ns
