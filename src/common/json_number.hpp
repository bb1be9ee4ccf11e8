#pragma once
// A JSON number read as a whole number of type T, or nothing when it is not one or does not
// fit: nlohmann's get<int>() of 1e300 is undefined behaviour, and get<uint64_t>() of -1 wraps.
// Every reader of numbers from outside (run specs, image manifests) goes through it.
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

namespace kuiga {

template <class T>
std::optional<T> wholeNumber(const nlohmann::json& v) {
  // nlohmann keeps non-negative numbers it parsed as unsigned, others as signed.
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(u);
  } else if (v.is_number_integer()) {
    auto i = v.get<int64_t>();
    if (std::cmp_greater_equal(i, std::numeric_limits<T>::min()) &&
        std::cmp_less_equal(i, std::numeric_limits<T>::max()))
      return static_cast<T>(i);
  }
  return std::nullopt;
}

}  // namespace kuiga
