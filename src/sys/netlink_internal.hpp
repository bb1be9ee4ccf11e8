#pragma once
// Private to the netlink sources: libnl's objects held by RAII, and its errors as ours.
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/route/link.h>

#include <cerrno>
#include <string>
#include <utility>

#include "common/result.hpp"

namespace kuiga::sys::detail {

// libnl reports its own codes; keep the kernel's errno where libnl maps one back.
inline Error nlError(const std::string& what, int err) {
  int code = 0;
  switch (-err) {
    case NLE_EXIST:
      code = EEXIST;
      break;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      code = ENODEV;
      break;
    case NLE_PERM:
      code = EPERM;
      break;
    case NLE_BUSY:
      code = EBUSY;
      break;
    case NLE_NOMEM:
      code = ENOMEM;
      break;
    case NLE_RANGE:
      code = ERANGE;
      break;
    default:
      break;
  }
  return Error{what + ": " + nl_geterror(err), code};
}

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
