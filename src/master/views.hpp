#pragma once
// JSON forms of the master's records, shared by the REST API and the event stream.
#include <nlohmann/json.hpp>

#include "master/run_service.hpp"

namespace kuiga::master {

nlohmann::json toJson(const RunView& v);
nlohmann::json toJson(const InstanceRecord& r);
nlohmann::json toJson(const WorkerView& w);
nlohmann::json toJson(const ImageRecord& i);
nlohmann::json toJson(const JitterStats& s);
std::string isoTime(int64_t realtimeNs);

}  // namespace kuiga::master
