#pragma once
// The protocol between kuiga-init and the worker: see report.h.
#include "worker/ns/init/report.h"

namespace kuiga::worker::ns {
constexpr int kInitReportFd = KUIGA_INIT_REPORT_FD;
constexpr int kInitSetupFailedCode = KUIGA_INIT_SETUP_FAILED_CODE;
// An init the zygote clones gets its AUT's directory (a detached mount) and the seccomp filter
// as these descriptors (--app-fd, --seccomp-fd).
constexpr int kInitAppFd = 4;
constexpr int kInitSeccompFd = 5;
}  // namespace kuiga::worker::ns
