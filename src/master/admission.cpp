#include "master/admission.hpp"

#include <fmt/format.h>

#include "plexer/zep/topology.hpp"
#include "spec/identity.hpp"

namespace kuiga::master {

bool printableUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size() || c < 0x20 || c == 0x7f) return false;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 2) return false;
      cp = cp << 6 | (d & 0x3f);
    }
    // Overlong forms, surrogates, C1 controls and past U+10FFFF.
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0) ||
        cp > 0x10ffff)
      return false;
    i += n;
  }
  return true;
}

namespace {

// What the image's profile allows of the network.
ApiResult<void> profileRules(const RunSpec& spec, const imagestore::Manifest& image) {
  if (image.profile == imagestore::Profile::RiotNative && !spec.zep && spec.net &&
      *spec.net != NetMode::Tap)
    return apiFail(ApiError::badRequest(
        "'net': a riot-native AUT talks through a tap device; use \"tap\" (the default)"));
  if (image.profile == imagestore::Profile::ContikiNative && spec.net && *spec.net != NetMode::Tun)
    return apiFail(ApiError::badRequest(
        "'net': a contiki-native AUT talks through a tun device; use \"tun\" (the default)"));
  if (image.profile == imagestore::Profile::ContikiNative && spec.zep)
    return apiFail(ApiError::badRequest(
        "'zep': Contiki-NG's native target has no ZEP radio; its devices talk IPv6 over tun0"));
  return {};
}

// A ZEP radio: a network to reach the dispatcher, a topology that fits, RIOT's socket_zep
// arguments by default.
ApiResult<void> zepRules(RunSpec& spec, const imagestore::Manifest& image) {
  // ZEP devices reach the dispatcher over UDP on their gateway address: IP networking.
  if (spec.net && *spec.net == NetMode::None)
    return apiFail(ApiError::badRequest("'net': ZEP devices need a network (veth or tap)"));
  if (!spec.net) spec.net = NetMode::Veth;
  // A topology too large to hold is refused now, not by the worker when the run is created
  // there (a create-time rule, not part of the spec: runs stored before it still load).
  if (auto fits = spec.zep->checkSize(spec.count); !fits)
    return apiFail(ApiError::badRequest(fits.error().message));
  // A topology file that does not fit the run is refused now, not by every instance later.
  if (spec.zep->kind == ZepSpec::Kind::Links) {
    auto t = plexer::Topology::parse(
        spec.zep->links, spec.count, [&](uint64_t e) -> std::optional<uint32_t> {
          auto iid = instanceOfEui64(e);  // its run is not known yet: its index must fit
          if (!iid || iid->index >= spec.count) return std::nullopt;
          return iid->index;
        });
    if (!t) return apiFail(ApiError::badRequest("'zep.links': " + t.error().message));
  }
  // RIOT's ZEP mode: socket_zep to the dispatcher, with the device's own EUI-64.
  if (!spec.argsGiven && image.profile == imagestore::Profile::RiotNative) {
    spec.args = {"-z", "{zep}", "--eui64", "{eui64}"};
    spec.argsGiven = true;
  }
  return {};
}

// A group shares one network namespace: devices that need an interface each cannot share it.
// On veth, the group's one link has its first device's addresses, and the radio (the ZEP
// dispatcher, the uplink) tells its devices apart by port ({port}, {zep}).
ApiResult<void> isolationRules(const RunSpec& spec) {
  if (spec.isolation != Isolation::Group) return {};
  if (spec.net && *spec.net != NetMode::None && *spec.net != NetMode::Veth)
    return apiFail(ApiError::badRequest(fmt::format(
        "'isolation': \"group\" cannot run {} devices, which need an interface each; use "
        "\"veth\" (one link per group, devices told apart by port), \"none\", or isolation "
        "\"instance\"",
        toString(*spec.net))));
  return {};
}

// One device's arguments are bounded, whatever the template: a template that repeats a
// placeholder would otherwise cost every worker (and, expanded, the master) its size N times.
ApiResult<void> argumentLimits(const RunSpec& spec) {
  if (spec.args.size() > kMaxArgCount)
    return apiFail(ApiError::badRequest(fmt::format(
        "'args': {} arguments; a device takes at most {}", spec.args.size(), kMaxArgCount)));
  auto argBytes = maxExpandedSize(spec.args);
  if (!argBytes) return apiFail(ApiError::badRequest("'args': " + argBytes.error().message));
  if (*argBytes > kMaxArgBytes)
    return apiFail(ApiError::badRequest(
        fmt::format("'args': one device's arguments can take up to {} bytes once expanded "
                    "(each placeholder at its widest); the limit is {} bytes",
                    *argBytes, kMaxArgBytes)));
  return {};
}

}  // namespace

ApiResult<RunSpec> admit(RunSpec spec, const imagestore::Manifest& image, int64_t nowMs) {
  if (!printableUtf8(spec.name))
    return apiFail(ApiError::badRequest(
        "'name' may hold printable characters only (UTF-8, no control characters)"));
  if (auto r = profileRules(spec, image); !r) return apiFail(r.error());
  if (spec.zep)
    if (auto r = zepRules(spec, image); !r) return apiFail(r.error());
  if (!spec.net) spec.net = parseNetMode(image.defaultNet).value_or(NetMode::Veth);
  if (auto r = isolationRules(spec); !r) return apiFail(r.error());
  if (!spec.argsGiven) {
    // The stored spec is the effective one: it shows the image's default arguments.
    spec.args = splitArgs(image.defaultArgs);
    spec.argsGiven = true;
  }
  if (auto r = argumentLimits(spec); !r) return apiFail(r.error());
  if (spec.startMs == 0) spec.startMs = nowMs;
  return spec;
}

}  // namespace kuiga::master
