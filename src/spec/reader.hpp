#pragma once
// Reads the fields of a run spec's JSON object (radio, zep), each refusal naming the field
// ("'radio.loss' must be between 0 and 1").
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/json_number.hpp"
#include "spec/address.hpp"

namespace kuiga {

struct FieldReader {
  const nlohmann::json& j;
  std::string error;
  const char* scope = "radio";  // the run spec's object the fields are in

  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  bool bad(const char* k, const std::string& what) {
    if (error.empty()) error = fmt::format("'{}.{}' {}", scope, k, what);
    return false;
  }
  bool number(const char* k, double& out, double lo, double hi) {
    if (!has(k)) return true;
    if (!j[k].is_number()) return bad(k, fmt::format("must be a number, not {}", j[k].type_name()));
    double v = j[k].get<double>();
    if (!(v >= lo && v <= hi)) return bad(k, fmt::format("must be between {} and {}", lo, hi));
    out = v;
    return true;
  }
  template <class T>
  bool integer(const char* k, T& out, uint64_t lo, uint64_t hi) {
    if (!has(k)) return true;
    const auto& v = j[k];
    if (!v.is_number_integer())
      return bad(k, fmt::format("must be an integer, not {}", v.type_name()));
    auto n = wholeNumber<uint64_t>(v);  // nothing when negative
    if (!n || *n < lo || *n > hi)
      return bad(k, fmt::format("must be between {} and {}, not {}", lo, hi, v.dump()));
    out = static_cast<T>(*n);
    return true;
  }
  bool prefix(const char* k, int family, std::optional<Prefix>& out) {
    if (!has(k)) return true;
    if (!j[k].is_string()) return bad(k, "must be a string like \"100.64.0.0/16\"");
    auto p = Prefix::parse(j[k].get<std::string>());
    if (!p) return bad(k, p.error().message);
    if (p->base.family != family) return bad(k, family == 4 ? "must be IPv4" : "must be IPv6");
    if (!p->host(0)) return bad(k, "has no host addresses");
    out = *p;
    return true;
  }
};

}  // namespace kuiga
