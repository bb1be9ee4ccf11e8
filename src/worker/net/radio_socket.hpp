#pragma once
// Private to the radio network's sources: each thread's netlink socket inside a radio namespace.
#include <cstdint>
#include <optional>
#include <utility>

#include "sys/netlink.hpp"
#include "sys/netns.hpp"

namespace kuiga::worker::net::detail {

// A netlink socket stays in the namespace it was opened in, so each thread opens one inside
// the radio namespace once and then works on the radio network without entering it again.
struct ThreadSocket {
  uint64_t generation = 0;
  std::optional<sys::Netlink> nl;
};
ThreadSocket& threadSocket();

template <class Fn>
auto withRadioSocket(int netnsFd, uint64_t generation, Fn&& fn)
    -> decltype(fn(std::declval<sys::Netlink&>())) {
  ThreadSocket& t = threadSocket();
  if (t.generation != generation || !t.nl) {
    auto guard = sys::netns::ThreadGuard::enter(netnsFd);
    if (!guard) return fail(guard.error().context("enter radio namespace"));
    auto nl = sys::Netlink::open();
    if (!nl) return fail(nl.error());
    t.nl.emplace(std::move(*nl));
    t.generation = generation;
  }
  return fn(*t.nl);
}

}  // namespace kuiga::worker::net::detail
