#pragma once
// The load half of `kuiga bench api`: holds slow clients (half-sent requests dribbling a byte
// every 3 s, reconnecting when cut off), event streams and requests without a Content-Length
// against a master, and measures ordinary requests meanwhile.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::bench {

struct LoadOptions {
  unsigned slowClients = 0;
  unsigned sse = 0;
  unsigned noLengthPosts = 64;
  double durationS = 10;
  unsigned rate = 50;  // ordinary requests a second
  std::string image;   // runs of it are created and deleted meanwhile (events); empty: none
};

// `runId`: a run the ordinary requests read (and the length-less POSTs try to start); every
// complete request carries `token`.
Result<nlohmann::json> holdAndMeasure(const std::string& url, const std::string& token, int runId,
                                      const LoadOptions& o,
                                      const std::function<void(const std::string&)>& log);

}  // namespace kuiga::bench
