#pragma once
// Network set-up inside one instance's namespace, after the radio side exists.
//   veth: eth0 up with the identity's IPv4/IPv6 addresses;
//   tap:  a persistent tap0 owned by the instance's user, so an unprivileged RIOT `native` app
//         can attach to it, wired to eth0 by tc redirects; no addresses (the app has its own
//         IP stack);
//   tun:  veth's eth0, plus a persistent IP tun "tun0" owned by the instance's user with the
//         host side of the device's own prefix (contikiHostAddress(id)/64), up, and IPv6
//         forwarding on, so that an unprivileged Contiki-NG native app opens tun0 itself
//         (its own "ifconfig" calls fail and are not needed) and its stack, numbered from
//         contikiPrefix(id), reaches the radio network through eth0;
//   none: loopback only.
#include <sys/types.h>

#include "common/result.hpp"
#include "spec/identity.hpp"
#include "worker/instance.hpp"

namespace kuiga::worker::net {

constexpr const char* kTapName = "tap0";
constexpr const char* kTunName = "tun0";  // Contiki-NG native's default (its -t option)

VoidResult configureInstanceNetwork(int instanceNetns, InstanceId id, NetMode mode, uid_t uid,
                                    gid_t gid);

}  // namespace kuiga::worker::net
