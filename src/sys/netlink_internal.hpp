#pragma once
// Private to the netlink sources: libnl's objects held by RAII, and its errors as ours.
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/route/link.h>

#include <string>
#include <utility>

#include "common/result.hpp"

namespace kuiga::sys::detail {

// libnl reports its own codes, and folds every errno it does not know (ENETDOWN, EHOSTUNREACH,
// ENOSPC, ...) into NLE_FAILURE, "Unspecific failure", dropping the kernel's extended-ack
// message too. The socket's error callback (watchKernelErrors) keeps both for the thread that
// made the request, and nlError names them: "add route ::/0 via 'eth0': Unspecific failure
// (kernel: ENETDOWN, Network is down: Nexthop device is not up)", with the errno as the code.
Error nlError(const std::string& what, int err);
// Asks the kernel for extended acks on `sock` and records each error it answers.
void watchKernelErrors(nl_sock* sock);

struct LinkPtr {
  rtnl_link* p;
  explicit LinkPtr(rtnl_link* l) : p(l) {}
  ~LinkPtr() {
    if (p) rtnl_link_put(p);
  }
  LinkPtr(const LinkPtr&) = delete;
  LinkPtr& operator=(const LinkPtr&) = delete;
};

struct AddrPtr {
  nl_addr* p;
  explicit AddrPtr(nl_addr* a) : p(a) {}
  ~AddrPtr() {
    if (p) nl_addr_put(p);
  }
  AddrPtr(AddrPtr&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
  AddrPtr(const AddrPtr&) = delete;
  AddrPtr& operator=(const AddrPtr&) = delete;
};

// "10.0.0.1", "fd00::1/64", ... of `family` (AF_UNSPEC: either).
inline Result<AddrPtr> parseAddress(const std::string& text, int family, const char* what) {
  nl_addr* a = nullptr;
  if (int err = nl_addr_parse(text.c_str(), family, &a); err < 0)
    return fail(nlError(std::string("parse ") + what + " '" + text + "'", err));
  return AddrPtr(a);
}

}  // namespace kuiga::sys::detail
