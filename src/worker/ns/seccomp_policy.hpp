#pragma once
// The default seccomp filter of `ns` instances, modelled on the default profiles of Docker and
// Podman: what an unprivileged container is refused there, an AUT is refused here (EPERM, or
// ENOSYS for clone3 so that the C library falls back to clone, whose flags a filter can see).
// Built once per worker with libseccomp (Debian's libseccomp-dev) as a BPF program for the
// native ABI and the 32-bit ones (RIOT `native` is an i386 program), which kuiga-init installs
// in the AUT's process right before exec.
#include <string>
#include <vector>

#include "common/result.hpp"

namespace kuiga::worker::ns {

// The filter as raw BPF (an array of struct sock_filter), ready for PR_SET_SECCOMP.
Result<std::string> defaultSeccompFilter();

// The system calls the filter refuses outright, for the docs and tests.
const std::vector<std::string>& refusedSyscalls();

}  // namespace kuiga::worker::ns
