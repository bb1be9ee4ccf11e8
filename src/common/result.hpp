#pragma once
// Result<T>: every failure the world can cause (syscalls, I/O, peers, user input) comes back
// as an Error that gains context at each layer ("create veth 'kv7.3': File exists").
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace kuiga {

struct Error {
  std::string message;
  int code = 0;  // errno when the cause is a syscall, else 0

  // "what: strerror(errno)" for the errno that is current now.
  static Error sys(std::string_view what, int err = errno) {
    return Error{std::string(what) + ": " + std::strerror(err), err};
  }
  static Error msg(std::string message) { return Error{std::move(message), 0}; }

  // Prefix context: "outer: inner".
  Error context(std::string_view outer) const& {
    return Error{std::string(outer) + ": " + message, code};
  }
};

template <class T>
using Result = tl::expected<T, Error>;
using VoidResult = tl::expected<void, Error>;

inline tl::unexpected<Error> fail(Error e) {
  return tl::unexpected<Error>(std::move(e));
}
inline tl::unexpected<Error> failSys(std::string_view what, int err = errno) {
  return tl::unexpected<Error>(Error::sys(what, err));
}
inline tl::unexpected<Error> failMsg(std::string message) {
  return tl::unexpected<Error>(Error::msg(std::move(message)));
}

}  // namespace kuiga

// Propagate an error with context. Kept as the one macro of the project: C++20 has no
// expression-level early return, and the alternative is four lines at every call site.
#define KUIGA_TRY(expr, ctx)                                                    \
  do {                                                                          \
    auto&& kuiga_try_r_ = (expr);                                               \
    if (!kuiga_try_r_) return ::kuiga::fail(kuiga_try_r_.error().context(ctx)); \
  } while (0)
