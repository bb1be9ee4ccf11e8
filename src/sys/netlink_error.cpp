// The kernel's errno and message behind libnl's errors (see netlink_internal.hpp).
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/handlers.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "sys/netlink_internal.hpp"

namespace kuiga::sys::detail {
namespace {

struct KernelError {
  int errnum = 0;  // positive
  std::string message;
};

// A request and its answer happen on the calling thread (nl_wait_for_ack and the like), so
// the last answer of this thread is the one that belongs to the failure being reported.
KernelError& lastKernelError() {
  thread_local KernelError k;
  return k;
}

// The extended ack's message: with NETLINK_CAP_ACK the kernel echoes only the request's
// header, and NLMSGERR_ATTR_* follow the nlmsgerr.
std::string extackMessage(const nlmsgerr* e) {
  const auto* hdr =
      reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(e) - NLMSG_HDRLEN);
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) offset += e->msg.nlmsg_len - NLMSG_HDRLEN;
  offset = NLMSG_ALIGN(offset);
  if (offset >= hdr->nlmsg_len) return {};
  nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
  auto* head =
      reinterpret_cast<nlattr*>(const_cast<char*>(reinterpret_cast<const char*>(hdr)) + offset);
  if (nla_parse(tb, NLMSGERR_ATTR_MAX, head, static_cast<int>(hdr->nlmsg_len - offset), nullptr) <
          0 ||
      !tb[NLMSGERR_ATTR_MSG])
    return {};
  const char* text = static_cast<const char*>(nla_data(tb[NLMSGERR_ATTR_MSG]));
  return std::string(text, strnlen(text, static_cast<size_t>(nla_len(tb[NLMSGERR_ATTR_MSG]))));
}

int onKernelError(sockaddr_nl*, nlmsgerr* e, void*) {
  lastKernelError() =
      KernelError{.errnum = e->error < 0 ? -e->error : e->error, .message = extackMessage(e)};
  return NL_STOP;  // libnl then reports the error as it would have (nl_syserr2nlerr)
}

}  // namespace

void watchKernelErrors(nl_sock* sock) {
  const int fd = nl_socket_get_fd(sock);
  const int on = 1;
  // Both are best effort: an old kernel without them still reports the errno.
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
  nl_socket_modify_err_cb(sock, NL_CB_CUSTOM, onKernelError, nullptr);
}

// libnl's code as an errno, where it maps to one (kept as callers test for them: a missing
// link is ENODEV whether libnl or the kernel found it missing).
static int errnoOf(int err) {
  switch (-err) {
    case NLE_EXIST:
      return EEXIST;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return ENODEV;
    case NLE_PERM:
      return EPERM;
    case NLE_BUSY:
      return EBUSY;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_RANGE:
      return ERANGE;
    default:
      return 0;
  }
}

Error nlError(const std::string& what, int err) {
  KernelError kernel = std::exchange(lastKernelError(), KernelError{});
  std::string text = what + ": " + nl_geterror(err);
  int code = errnoOf(err);
  // The kernel's answer explains this failure if libnl made this code of it; otherwise the
  // failure is libnl's own (a parse, an allocation) and the answer is an older one.
  if (kernel.errnum && nl_syserr2nlerr(kernel.errnum) == -err) {
    const char* name = strerrorname_np(kernel.errnum);
    text += std::string(" (kernel: ") + (name ? name : std::to_string(kernel.errnum).c_str()) +
            ", " + std::strerror(kernel.errnum);
    if (!kernel.message.empty()) text += ": " + kernel.message;
    text += ")";
    if (!code) code = kernel.errnum;
  }
  return Error{text, code};
}

}  // namespace kuiga::sys::detail
