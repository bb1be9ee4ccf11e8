#include "spec/net_mode.hpp"

namespace kuiga {

std::string_view toString(NetMode m) {
  switch (m) {
    case NetMode::Veth:
      return "veth";
    case NetMode::Tap:
      return "tap";
    case NetMode::None:
      return "none";
    case NetMode::Tun:
      return "tun";
  }
  return "?";
}

Result<NetMode> parseNetMode(std::string_view s) {
  if (s == "veth") return NetMode::Veth;
  if (s == "tap") return NetMode::Tap;
  if (s == "none") return NetMode::None;
  if (s == "tun") return NetMode::Tun;
  return failMsg("unknown network mode '" + std::string(s) + "' (veth, tap, tun or none)");
}

std::string_view toString(Isolation i) {
  return i == Isolation::Group ? "group" : "instance";
}

Result<Isolation> parseIsolation(std::string_view s) {
  if (s == "instance") return Isolation::Instance;
  if (s == "group") return Isolation::Group;
  return failMsg("unknown isolation '" + std::string(s) + "' (instance or group)");
}

}  // namespace kuiga
