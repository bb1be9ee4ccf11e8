#pragma once
// The protocol between kuiga-init and the worker: see report.h.
#include "worker/ns/init/report.h"

namespace kuiga::worker::ns {
constexpr int kInitReportFd = KUIGA_INIT_REPORT_FD;
constexpr int kInitSetupFailedCode = KUIGA_INIT_SETUP_FAILED_CODE;
}  // namespace kuiga::worker::ns
