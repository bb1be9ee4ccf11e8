#include "plexer/plexer.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "plexer/uplink/device_prefixes.hpp"
#include "spec/radio.hpp"
#include "spec/zep.hpp"

namespace kuiga::plexer {

Result<std::unique_ptr<Plexer>> Plexer::start(int radioNetnsFd, const std::string& stateDir,
                                              const std::string& name, uint16_t zepPort) {
  std::unique_ptr<Plexer> p(new Plexer());
  p->radioNetnsFd_ = radioNetnsFd;
  p->name_ = name;
  auto capture = RunCapture::start(radioNetnsFd, stateDir + "/pcap");
  if (!capture) return fail(capture.error().context("capture"));
  p->capture_ = std::move(*capture);
  auto forwarder = Forwarder::start(radioNetnsFd, stateDir + "/radio");
  if (!forwarder) return fail(forwarder.error().context("uplink"));
  p->forwarder_ = std::move(*forwarder);
  // The forwarder's tun is not a device: keep its packets out of the capture.
  KUIGA_TRY(p->capture_->refreshFilter(), "capture");
  auto zep = ZepDispatcher::start(radioNetnsFd, stateDir + "/zep", zepPort);
  if (!zep) return fail(zep.error().context("ZEP dispatcher"));
  p->zep_ = std::move(*zep);
  for (const auto& e : p->zep_->restore()) spdlog::warn("{}: {}", name, e.message);
  auto restored = p->forwarder_->restore();
  for (const auto& e : restored.failed) spdlog::warn("{}: {}", name, e.message);
  if (restored.cells) spdlog::info("{}: reopened {} radio cells", name, restored.cells);
  return p;
}

Plexer::~Plexer() = default;

VoidResult Plexer::openCell(RunId run, const std::string& radioJson, const std::string& zepJson,
                            uint32_t count, uint32_t groupSize) {
  if (!radioJson.empty()) {
    auto j = nlohmann::json::parse(radioJson, nullptr, false);
    if (j.is_discarded()) return failMsg("radio spec from the master is not JSON");
    auto spec = RadioSpec::fromJson(j);
    if (!spec) return fail(spec.error());
    KUIGA_TRY(forwarder_->addCell(run, *spec, groupSize), "the run's cell");
  }
  if (zepJson.empty()) return {};
  auto j = nlohmann::json::parse(zepJson, nullptr, false);
  if (j.is_discarded()) return failMsg("ZEP spec from the master is not JSON");
  auto spec = ZepSpec::fromJson(j);
  if (!spec) return fail(spec.error());
  return zep_->addRun(run, *spec, count, spec->seed.value_or(0), groupSize);
}

void Plexer::closeCell(RunId run) {
  forwarder_->removeCell(run);
  zep_->removeRun(run);
  if (auto r = closeGateway(radioNetnsFd_, run); !r)
    spdlog::warn("{}: {}", name_, r.error().message);
}

void Plexer::closeIdle(const std::set<RunId>& live) {
  for (RunId run : forwarder_->cells())
    if (!live.count(run)) forwarder_->removeCell(run);
  for (RunId run : zep_->runs())
    if (!live.count(run)) zep_->removeRun(run);
  if (auto d = dropDevicePrefixes(radioNetnsFd_, live); !d)
    spdlog::warn("{}: {}", name_, d.error().message);
  // A run that ended here keeps no file open: its capture stays readable until purged.
  for (RunId run : capture_->runs())
    if (!live.count(run)) capture_->closeRun(run);
}

VoidResult Plexer::routeDevice(InstanceId id) {
  return routeDevicePrefix(radioNetnsFd_, id);
}

VoidResult Plexer::routeRun(RunId run, const std::set<uint32_t>& indices) {
  return routeRunPrefixes(radioNetnsFd_, run, indices);
}

}  // namespace kuiga::plexer
