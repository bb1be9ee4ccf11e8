#include "plexer/capture/run_capture.hpp"

#include <net/if.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "sys/netlink.hpp"

namespace kuiga::plexer {

Result<std::unique_ptr<RunCapture>> RunCapture::start(int radioNetnsFd, std::string dir,
                                                      uint64_t rotateBytes, CaptureConfig config) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return failMsg(fmt::format("create '{}': {}", dir, ec.message()));
  std::unique_ptr<RunCapture> rc(new RunCapture());
  rc->netnsFd_ = radioNetnsFd;
  rc->dir_ = dir;
  auto cap = Capture::open(
      radioNetnsFd,
      [dir, rotateBytes](const std::string& group) {
        // A run captured again after a worker restart continues in a new file set.
        std::string base = dir + "/" + group;
        for (int k = 1; std::filesystem::exists(base + ".pcapng"); ++k)
          base = fmt::format("{}/{}.{}", dir, group, k);
        return PcapngWriter::open(base, rotateBytes);
      },
      config);
  if (!cap) return fail(cap.error());
  rc->capture_ = std::move(*cap);
  KUIGA_TRY(rc->refreshFilter(), "capture");
  rc->thread_ = std::jthread([c = rc->capture_.get()](std::stop_token st) { c->run(st); });
  return rc;
}

RunCapture::~RunCapture() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  if (capture_) (void)capture_->flush();
}

VoidResult RunCapture::addInstance(InstanceId id) {
  auto port = portInfo(radioLinkName(id));
  if (!port) return fail(port.error().context("capture: no radio port"));
  // A port on a bridge the filter does not know yet: a new leaf, whose uplink is new too.
  bool known;
  {
    std::lock_guard lock(mu_);
    known = ignored_.count(port->master) > 0;
  }
  if (!known) KUIGA_TRY(refreshFilter(), "capture");
  KUIGA_TRY(capture_->addDevice(port->index, fmt::format("run-{}", id.run), displayName(id)),
            "capture " + displayName(id));
  {
    std::lock_guard lock(mu_);
    open_.insert(id.run);
    closed_.erase(id.run);  // (a run back on this worker: a new file set, files() names it)
  }
  // The baseline is read after capturing began: a frame between the two is captured but not
  // in the kernel's delta, which can only make `missed` smaller, never invent a miss.
  auto now = portInfo(radioLinkName(id));
  std::lock_guard lock(mu_);
  ports_[id] = {port->index, now ? now->rxPackets : port->rxPackets};
  return {};
}

Result<sys::Netlink::LinkInfo> RunCapture::portInfo(const std::string& name) {
  auto nl = radioNetlink();
  if (!nl) return fail(nl.error());
  return nl->link(name);
}

Result<sys::Netlink> RunCapture::radioNetlink() {
  return sys::Netlink::openIn(netnsFd_);
}

VoidResult RunCapture::refreshFilter() {
  std::set<int> ignored;
  auto nl = radioNetlink();
  if (!nl) return fail(nl.error());
  auto links = nl->links();
  if (!links) return fail(links.error());
  // Everything that is not an instance's port.
  for (const auto& l : *links)
    if (l.name.rfind("kv", 0) != 0) ignored.insert(l.index);
  KUIGA_TRY(capture_->ignoreInterfaces({ignored.begin(), ignored.end()}), "filter");
  std::lock_guard lock(mu_);
  ignored_ = std::move(ignored);
  return {};
}

Result<std::map<int, uint64_t>> RunCapture::rxCounters() {
  auto nl = radioNetlink();
  if (!nl) return fail(nl.error());
  auto links = nl->links();
  if (!links) return fail(links.error());
  std::map<int, uint64_t> out;
  for (const auto& l : *links) out[l.index] = l.rxPackets;
  return out;
}

Result<std::vector<RunCapture::DeviceReport>> RunCapture::report(RunId run) {
  // Kernel counters first, captured counts second: frames in flight between the two are then
  // on the captured side, so they never show up as missed.
  auto rx = rxCounters();
  if (!rx) return fail(rx.error().context("radio counters"));
  auto build = [&] {
    auto st = capture_->stats();
    std::vector<DeviceReport> out;
    bool missing = false;
    std::lock_guard lock(mu_);
    for (const auto& [id, port] : ports_) {
      if (id.run != run) continue;
      DeviceReport d;
      d.name = displayName(id);
      if (auto it = st.devices.find(d.name); it != st.devices.end()) d.captured = it->second;
      if (auto it = rx->find(port.ifindex); it != rx->end() && it->second >= port.rxBaseline)
        d.kernelSentFrames = it->second - port.rxBaseline;
      d.missedFrames = d.kernelSentFrames > d.captured.sentFrames
                           ? d.kernelSentFrames - d.captured.sentFrames
                           : 0;
      missing = missing || d.missedFrames > 0;
      out.push_back(std::move(d));
    }
    return std::pair{std::move(out), missing};
  };
  (void)capture_->snapshot(fmt::format("run-{}", run));  // drains the ring
  auto first = build();
  if (!first.second) return std::move(first.first);
  // A frame the kernel has counted may still sit in a ring block being filled, which the
  // kernel hands over only when the block retires: before calling it missed, wait that long
  // once (seen in CI: one frame per device, sent just before the report was asked for).
  std::this_thread::sleep_for(capture_->retireTime() + std::chrono::milliseconds(5));
  (void)capture_->snapshot(fmt::format("run-{}", run));
  return build().first;
}

void RunCapture::removeInstance(InstanceId id) {
  std::lock_guard lock(mu_);
  auto it = ports_.find(id);
  if (it == ports_.end()) return;
  capture_->removeDevice(it->second.ifindex);
  ports_.erase(it);
}

std::vector<std::pair<std::string, uint64_t>> RunCapture::files(RunId run) {
  {
    std::lock_guard lock(mu_);
    if (auto it = closed_.find(run); it != closed_.end()) return it->second;
  }
  return capture_->snapshot(fmt::format("run-{}", run));
}

void RunCapture::closeRun(RunId run) {
  std::lock_guard lock(mu_);
  if (!open_.erase(run)) return;
  for (const auto& [id, port] : ports_)
    if (id.run == run) return void(open_.insert(run));  // a device of it is still here
  closed_[run] = capture_->closeGroup(fmt::format("run-{}", run));
}

void RunCapture::purgeRun(RunId run) {
  std::vector<std::pair<std::string, uint64_t>> files;
  {
    std::lock_guard lock(mu_);
    std::erase_if(ports_, [&](const auto& p) {
      if (p.first.run != run) return false;
      capture_->removeDevice(p.second.ifindex);
      return true;
    });
    files = open_.erase(run) ? capture_->closeGroup(fmt::format("run-{}", run)) : closed_[run];
    closed_.erase(run);
  }
  std::error_code ec;
  for (const auto& [path, size] : files) std::filesystem::remove(path, ec);
}

std::set<RunId> RunCapture::runs() {
  std::lock_guard lock(mu_);
  std::set<RunId> out = open_;
  for (const auto& [run, files] : closed_) out.insert(run);
  return out;
}

}  // namespace kuiga::plexer
