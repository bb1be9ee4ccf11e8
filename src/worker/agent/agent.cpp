#include "worker/agent/agent.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/digest.hpp"
#include "common/jitter.hpp"
#include "rpc/control.grpc.pb.h"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "worker/agent/run_artifacts.hpp"

namespace kuiga::worker {

namespace fs = std::filesystem;

EventSink EventQueue::sink() {
  return [this](const std::vector<InstanceEvent>& evs) {
    std::lock_guard lock(mu_);
    events_.insert(events_.end(), evs.begin(), evs.end());
  };
}

std::vector<InstanceEvent> EventQueue::take() {
  std::lock_guard lock(mu_);
  return std::exchange(events_, {});
}

void EventQueue::push(std::vector<InstanceEvent> evs) {
  std::lock_guard lock(mu_);
  events_.insert(events_.end(), evs.begin(), evs.end());
}

static rpc::InstanceRef ref(InstanceId id) {
  rpc::InstanceRef r;
  r.set_run(id.run);
  r.set_index(id.index);
  return r;
}

static InstanceId unref(const rpc::InstanceRef& r) {
  return {r.run(), r.index()};
}

static rpc::InstanceStatus toProto(const InstanceEvent& e) {
  rpc::InstanceStatus s;
  *s.mutable_id() = ref(e.id);
  s.set_state(std::string(toString(e.state)));
  s.set_reason(e.reason);
  s.set_time_ns(e.timeNs);
  return s;
}

// ---- blobs and logs ----

Result<std::pair<std::string, uint64_t>> readLog(const std::string& path, uint64_t offset,
                                                 uint32_t max) {
  std::vector<std::pair<std::string, uint64_t>> parts;
  for (const auto& p : {path + ".1", path}) {
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    if (!ec) parts.emplace_back(p, size);
  }
  if (parts.empty()) return failMsg("no log at '" + path + "'");
  // The log may have rotated away from an old offset: it continues from its end, not past it.
  return sys::readConcatenated(parts, offset, max);
}

// ---- the connection ----

struct CommandBox {
  rpc::Command cmd;
};

struct Agent::Conn {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<rpc::WorkerMessage, rpc::MasterMessage>> stream;
  std::mutex writeMu;
  bool write(const rpc::WorkerMessage& m) {
    std::lock_guard lock(writeMu);
    return stream->Write(m);
  }
  // Taking events and writing them happen under one lock, so an instance's events reach the
  // master in the order they happened, whichever thread sends them.
  std::mutex flushMu;
  bool flush(EventQueue& q) {
    std::lock_guard lock(flushMu);
    auto evs = q.take();
    for (size_t from = 0; from < evs.size(); from += 5000) {
      rpc::WorkerMessage m;
      for (size_t k = from; k < std::min(evs.size(), from + 5000); ++k)
        *m.mutable_events()->add_events() = toProto(evs[k]);
      if (!write(m)) return false;
    }
    return true;
  }
  // Bulk commands run in order on one thread; quick queries on another, so a log read does not
  // wait behind the creation of 10,000 instances.
  std::mutex qMu;
  std::condition_variable qCv;
  std::deque<CommandBox> bulk, query;
  bool closing = false;
};

Agent::Agent(AgentConfig config, MasterLink& link, Runtime& runtime, EventQueue& events,
             imagestore::BlobSource& blobs, plexer::Plexer* plexer, net::RadioNetwork* radio)
    : config_(std::move(config)),
      link_(link),
      runtime_(runtime),
      events_(events),
      cache_(config_.cacheDir, blobs),
      plexer_(plexer),
      radio_(radio) {
  if (config_.plexer) {
    if (plexer_) {
      for (RunId r : plexer_->uplink().cells()) hosted_.insert(r);
      for (RunId r : plexer_->zep().runs()) hosted_.insert(r);
    }
  }
  std::error_code ec;
  fs::create_directories(config_.cacheDir, ec);
  ::chmod(config_.cacheDir.c_str(), 0755);
}

Agent::~Agent() = default;

bool Agent::connected() const {
  std::lock_guard lock(mu_);
  return connected_;
}

// Adds a run's cell and its devices' forwarding counts to a RadioStats reply, next to what the
// capture counted for the same devices.
static void addCellReport(const plexer::CellReport& cell, rpc::Reply& rep) {
  auto* c = rep.mutable_cell();
  c->set_uplink(cell.uplink);
  c->set_ues(cell.ues);
  c->set_leases(cell.ue.leases);
  c->set_max_leases(cell.ue.maxLeases);
  c->set_grants(cell.ue.grants);
  c->set_releases(cell.ue.releases);
  c->set_queue_depth(cell.ue.queueDepth);
  c->set_active_devices(cell.activeDevices);
  c->set_airtime_ns(static_cast<uint64_t>(cell.medium.airtimeNs));
  c->set_dropped_no_lease(cell.droppedNoLease);
  c->set_write_errors(cell.writeErrors);
  std::map<std::string, rpc::DeviceCounters*> byName;
  for (auto& d : *rep.mutable_devices()) byName[d.name()] = &d;
  for (const auto& [index, f] : cell.devices) {
    auto name = displayName({cell.run, index});
    auto it = byName.find(name);
    rpc::DeviceCounters* d = it != byName.end() ? it->second : rep.add_devices();
    d->set_name(name);
    d->set_to_station_frames(f.sentFrames);
    d->set_to_station_bytes(f.sentBytes);
    d->set_uplink_frames(f.upFrames);
    d->set_uplink_bytes(f.upBytes);
    d->set_downlink_frames(f.downFrames);
    d->set_downlink_bytes(f.downBytes);
    d->set_queued_frames(f.queuedFrames);
    d->set_dropped_loss(f.droppedLoss);
    d->set_dropped_active_cap(f.droppedActiveCap);
    d->set_dropped_medium_queue(f.droppedMediumQueue);
    d->set_dropped_no_ue(f.droppedNoUe);
    d->set_dropped_ue_queue_full(f.droppedUeQueueFull);
  }
}

void Agent::purgeRun(RunId run) {
  {
    std::lock_guard lock(mu_);
    hosted_.erase(run);
  }
  std::vector<InstanceId> left;
  for (const auto& st : runtime_.list())
    if (st.id.run == run) left.push_back(st.id);
  if (!left.empty()) (void)runtime_.remove(left);
  closeRadio(run);
  if (plexer_) plexer_->capture().purgeRun(run);
  size_t n = config_.stateDir.empty() ? 0 : RunArtifacts(config_.stateDir).purge(run);
  spdlog::info("worker {}: run {} purged ({} files)", config_.name, run, n);
}

void Agent::keepOnly(const std::set<RunId>& keep) {
  std::set<RunId> held;
  if (!config_.stateDir.empty()) held = RunArtifacts(config_.stateDir).runs();
  if (plexer_)
    for (RunId r : plexer_->capture().runs()) held.insert(r);
  {
    std::lock_guard lock(mu_);
    held.insert(hosted_.begin(), hosted_.end());
  }
  for (RunId run : held)
    if (!keep.count(run)) purgeRun(run);
}

VoidResult Agent::adoptCluster(const std::string& id) {
  if (id.empty() || config_.stateDir.empty()) return {};
  std::string mine = storedClusterId(config_.stateDir);
  if (mine == id) return {};
  if (!mine.empty()) {
    // A master with other records (a new data directory, another cluster): what this worker
    // runs and wrote belongs to the old one, and run ids mean other runs now.
    std::vector<InstanceId> ids;
    for (const auto& st : runtime_.list()) ids.push_back(st.id);
    std::string dest = config_.stateDir + "/stale/" + mine;
    spdlog::warn(
        "worker {}: the master is of cluster {}, this worker's records of cluster {}: "
        "removing its {} instances, keeping its logs and captures in {}",
        config_.name, id, mine, ids.size(), dest);
    if (plexer_)
      for (auto i : ids) plexer_->capture().removeInstance(i);
    if (!ids.empty()) (void)runtime_.remove(ids);
    closeIdleCells();
    KUIGA_TRY(RunArtifacts(config_.stateDir).moveAll(dest), "keep the old cluster's records");
    if (plexer_)
      for (RunId r : plexer_->capture().runs())
        plexer_->capture().purgeRun(r);  // moved away already
  }
  return storeClusterId(config_.stateDir, id);
}

void Agent::run(std::stop_token stop) {
  bool warned = false;
  while (!stop.stop_requested()) {
    auto target = link_.discover();
    if (target) {
      if (auto adopted = adoptCluster(target->clusterId); !adopted) {
        spdlog::error("worker {}: {}", config_.name, adopted.error().message);
        target = fail(adopted.error());
      }
    }
    auto channel = target ? link_.channel() : fail(target.error());
    if (channel) {
      {
        std::lock_guard lock(mu_);
        clusterId_ = target->clusterId;
      }
      auto stub = rpc::Control::NewStub(*channel);
      Conn conn;
      conn.stream = stub->Connect(&conn.ctx);
      std::stop_callback cancel(stop, [&] { conn.ctx.TryCancel(); });
      serve(conn, stop);
      warned = false;
    } else if (!warned) {
      spdlog::warn("worker {}: master unreachable ({}); retrying", config_.name,
                   channel.error().message);
      warned = true;
    }
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, config_.reconnectEvery, [] { return false; });
  }
}

void Agent::serve(Conn& conn, std::stop_token stop) {
  rpc::WorkerMessage hello;
  auto* reg = hello.mutable_register_();
  reg->set_name(config_.name);
  reg->set_capacity(config_.capacity);
  reg->set_runtime(config_.runtimeName);
  reg->set_underlay_address(config_.underlayAddress);
  {
    std::lock_guard lock(mu_);
    reg->set_cluster_id(clusterId_);
    if (config_.plexer) {
      reg->set_role("plexer");
      for (RunId r : hosted_) reg->add_cells(r);
    }
  }
  for (const auto& [k, v] : config_.labels) (*reg->mutable_labels())[k] = v;
  // The registration carries the whole truth, so queued events are stale from here on.
  (void)events_.take();
  for (const auto& st : runtime_.list()) {
    // Re-adopted instances on the radio network are captured again.
    if (plexer_ && !isFinal(st.state)) (void)plexer_->capture().addInstance(st.id);
    auto* s = reg->add_instances();
    *s->mutable_id() = ref(st.id);
    s->set_state(std::string(toString(st.state)));
    s->set_reason(st.reason);
    s->set_time_ns(st.history.empty() ? realtimeNs() : st.history.back().timeNs);
  }
  if (!conn.write(hello)) return;
  rpc::MasterMessage in;
  if (!conn.stream->Read(&in)) {
    auto status = conn.stream->Finish();
    spdlog::warn("worker {}: registration refused: {}", config_.name, status.error_message());
    return;
  }
  if (!in.has_registered()) {
    // Finish() would wait for a master that goes on serving the stream: it is cancelled.
    conn.ctx.TryCancel();
    (void)conn.stream->Finish();
    spdlog::warn(
        "worker {}: the master answered the registration with another message; "
        "connecting again",
        config_.name);
    return;
  }
  spdlog::info("worker {}: registered with {} ({} instances reported)", config_.name, link_.url(),
               reg->instances_size());
  {
    std::lock_guard lock(mu_);
    connected_ = true;
  }
  if (in.registered().remove_size() > 0) {
    std::vector<InstanceId> ids;
    for (const auto& r : in.registered().remove()) ids.push_back(unref(r));
    spdlog::info("worker {}: removing {} instances the master no longer wants", config_.name,
                 ids.size());
    (void)runtime_.remove(ids);
  }
  // What the master no longer keeps (runs deleted while this worker was away, or before):
  // their logs and captures go, and nothing of them stays open.
  if (!in.registered().cluster_id().empty()) {
    std::set<RunId> keep(in.registered().keep_runs().begin(), in.registered().keep_runs().end());
    keepOnly(keep);
    closeIdleCells();
  }
  auto heartbeat = std::chrono::milliseconds(std::max(100u, in.registered().heartbeat_ms()));

  std::jthread flusher([&](std::stop_token st) {
    while (!st.stop_requested()) {
      std::this_thread::sleep_for(config_.flushEvery);
      if (!conn.flush(events_)) return;
    }
  });
  // Heartbeats have a thread of their own, at a raised priority: behind a flush of thousands
  // of events, or among 5,000 devices waking at once on two cores, they were late past the
  // master's patience, and it declared a busy worker lost.
  std::jthread beater([&](std::stop_token st) {
    if (auto r = sys::raiseThreadPriority(1); !r)
      spdlog::warn("worker {}: heartbeats at normal priority: {}", config_.name, r.error().message);
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    while (!cv.wait_for(lock, st, heartbeat, [] { return false; })) {
      rpc::WorkerMessage beat;
      beat.mutable_heartbeat()->set_time_ns(realtimeNs());
      if (plexer_) beat.mutable_heartbeat()->set_zep_unplaceable(plexer_->zep().unplaceable());
      if (!conn.write(beat)) return;
    }
  });
  auto consume = [&](std::deque<CommandBox>& q) {
    for (;;) {
      CommandBox box;
      {
        std::unique_lock lock(conn.qMu);
        conn.qCv.wait(lock, [&] { return conn.closing || !q.empty(); });
        if (q.empty()) return;
        box = std::move(q.front());
        q.pop_front();
      }
      execute(conn, box);
    }
  };
  std::jthread bulkThread([&] { consume(conn.bulk); });
  std::jthread queryThread([&] { consume(conn.query); });

  while (!stop.stop_requested() && conn.stream->Read(&in)) {
    if (!in.has_command()) continue;
    const auto& c = in.command();
    bool quick = c.has_console() || c.has_read_log() || c.has_jitter() || c.has_read_pcap() ||
                 c.has_radio_stats() || c.has_read_leases();
    std::lock_guard lock(conn.qMu);
    (quick ? conn.query : conn.bulk).push_back({c});
    conn.qCv.notify_all();
  }
  {
    std::lock_guard lock(mu_);
    connected_ = false;
  }
  const bool ours = stop.stop_requested();
  conn.ctx.TryCancel();
  {
    std::lock_guard lock(conn.qMu);
    conn.closing = true;
    conn.bulk.clear();  // the master re-sends what it still wants after re-registration
    conn.query.clear();
    conn.qCv.notify_all();
  }
  flusher.request_stop();
  flusher.join();
  beater.request_stop();
  beater.join();
  bulkThread.join();
  queryThread.join();
  // The status the master (or the channel) ended the stream with; after a cancel of ours,
  // CANCELLED.
  auto status = conn.stream->Finish();
  if (!ours)
    spdlog::warn("worker {}: connection to the master ended (gRPC status {}{}{})", config_.name,
                 static_cast<int>(status.error_code()), status.error_message().empty() ? "" : ": ",
                 status.error_message());
}

void Agent::execute(Conn& conn, const CommandBox& box) {
  const rpc::Command& c = box.cmd;
  rpc::WorkerMessage out;
  rpc::Reply* rep = out.mutable_reply();
  rep->set_request(c.request());
  rep->set_ok(true);
  auto addFailures = [&](const BulkResult& r) {
    for (const auto& [id, err] : r.failed) {
      auto* f = rep->add_failed();
      *f->mutable_id() = ref(id);
      f->set_message(err.message);
    }
  };
  auto ids = [](const rpc::InstanceIds& in) {
    std::vector<InstanceId> v;
    for (const auto& r : in.ids()) v.push_back(unref(r));
    return v;
  };
  if (c.has_create()) {
    const auto& cr = c.create();
    auto img = cache_.ensure(cr.image());
    auto net = parseNetMode(cr.net());
    VoidResult radio = net ? openRadio(cr.run(), *net) : VoidResult{};
    if (radio)
      radio = openCell(cr.run(), cr.radio(), cr.zep(), cr.run_count(),
                       cr.group() ? cr.group_size() : 0);
    if (!img || !net || !radio) {
      // The runtime never saw these instances: report their failure as events ourselves.
      std::string why =
          !img ? img.error().message : (!net ? net.error().message : radio.error().message);
      rep->set_ok(false);
      rep->set_error(why);
      std::vector<InstanceEvent> evs;
      for (const auto& l : cr.instances())
        evs.push_back({{cr.run(), l.index()}, InstanceState::Failed, realtimeNs(), why});
      events_.push(std::move(evs));
    } else {
      std::vector<InstanceSpec> specs;
      std::vector<InstanceEvent> refused;
      const std::vector<std::string> tmpl(cr.args().begin(), cr.args().end());
      for (const auto& l : cr.instances()) {
        InstanceSpec s;
        s.id = {cr.run(), l.index()};
        s.appDir = img->appDir;
        s.executable = img->manifest.executable;
        const uint32_t groupSize =
            cr.group() ? (cr.group_size() ? cr.group_size() : kDefaultGroupSize) : 0;
        TemplateContext ctx{s.id,      cr.run_count(), "tap0",   cr.start_ms(),
                            cr.seed(), cr.period_ms(), groupSize};
        auto args = expandArgs(tmpl, ctx);
        if (!args) {  // the master checked the template; a bad one fails only its instances
          refused.push_back(
              {s.id, InstanceState::Failed, realtimeNs(), "arguments: " + args.error().message});
          continue;
        }
        s.args = std::move(*args);
        s.net = *net;
        s.limits.memoryBytes = cr.memory_bytes();
        s.limits.diskMb = cr.disk_mb() ? cr.disk_mb() : s.limits.diskMb;
        s.seccomp = !cr.seccomp_unconfined();
        s.limits.pids = cr.pids() ? cr.pids() : s.limits.pids;
        s.limits.cpuMilli = cr.cpu_milli();
        s.isolation = cr.group() ? Isolation::Group : Isolation::Instance;
        s.groupSize = groupSize ? groupSize : kDefaultGroupSize;
        specs.push_back(std::move(s));
      }
      if (!refused.empty()) {
        for (const auto& e : refused) {
          auto* f = rep->add_failed();
          *f->mutable_id() = ref(e.id);
          f->set_message(e.reason);
        }
        events_.push(std::move(refused));
      }
      auto t0 = std::chrono::steady_clock::now();
      auto created = runtime_.create(specs);
      if (plexer_) {
        std::set<InstanceId> failed;
        for (const auto& f : created.failed) failed.insert(f.first);
        for (const auto& s : specs) {
          if (s.net == NetMode::None || failed.count(s.id)) continue;
          if (auto r = plexer_->capture().addInstance(s.id); !r)
            spdlog::warn("worker {}: {}", config_.name, r.error().message);
        }
      }
      routeDevicePrefixes(specs, created);
      addFailures(created);
      spdlog::debug("worker {}: created {} instances of run {} in {:.3f} s", config_.name,
                    specs.size(), cr.run(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  } else if (c.has_start()) {
    addFailures(runtime_.start(ids(c.start())));
  } else if (c.has_stop()) {
    addFailures(runtime_.stop(ids(c.stop()), std::chrono::milliseconds(c.stop().grace_ms())));
  } else if (c.has_remove()) {
    auto list = ids(c.remove());
    if (plexer_)
      for (auto id : list) plexer_->capture().removeInstance(id);
    addFailures(runtime_.remove(list));
    closeIdleCells();
  } else if (c.has_radio_peers()) {
    if (auto r = setRadioPeers(c.radio_peers()); !r) {
      rep->set_ok(false);
      rep->set_error(r.error().message);
    }
  } else if (c.has_purge()) {
    if (plexer_)
      for (const auto& st : runtime_.list())
        if (st.id.run == c.purge().run()) plexer_->capture().removeInstance(st.id);
    purgeRun(c.purge().run());
  } else if (c.has_radio_stats()) {
    if (plexer_) {
      auto devices = plexer_->capture().report(c.radio_stats().run());
      if (!devices) {
        rep->set_ok(false);
        rep->set_error(devices.error().message);
      } else {
        for (const auto& d : *devices) {
          auto* out = rep->add_devices();
          out->set_name(d.name);
          out->set_sent_frames(d.captured.sentFrames);
          out->set_sent_bytes(d.captured.sentBytes);
          out->set_delivered_frames(d.captured.deliveredFrames);
          out->set_delivered_bytes(d.captured.deliveredBytes);
          out->set_kernel_sent_frames(d.kernelSentFrames);
          out->set_missed_frames(d.missedFrames);
        }
      }
      rep->set_ring_drops(plexer_->capture().stats().ringDrops);
      if (auto g = plexer_->uplink().gatewayDrops()) rep->set_gateway_drops(*g);
    }
    if (auto zep = plexer_ ? plexer_->zep().report(c.radio_stats().run()) : std::nullopt) {
      RunId run = c.radio_stats().run();
      std::map<std::string, rpc::DeviceCounters*> byName;
      for (auto& d : *rep->mutable_devices()) byName[d.name()] = &d;
      for (const auto& z : *zep) {
        auto name = displayName({run, z.index});
        auto* d = byName.count(name) ? byName[name] : rep->add_devices();
        d->set_name(name);
        d->set_zep(true);
        d->set_zep_sent(z.counters.sent);
        d->set_zep_received(z.counters.received);
        d->set_zep_dropped_channel(z.counters.droppedChannel);
        d->set_zep_lost_on_links(z.counters.lostOnLinks);
        d->set_zep_no_listener(z.counters.noListener);
        d->set_zep_unreachable(z.unreachable);
        d->set_zep_send_errors(z.sendErrors);
        d->set_zep_malformed(z.malformed);
        d->set_zep_acks(z.counters.acks);
        d->set_zep_retransmissions(z.counters.retransmissions);
        d->set_zep_hellos(z.hellos);
        d->set_zep_own_acks(z.ownAcks);
      }
    }
    if (auto cell = plexer_ ? plexer_->uplink().report(c.radio_stats().run()) : std::nullopt) {
      addCellReport(*cell, *rep);
    }
  } else if (c.has_read_leases()) {
    const auto& rl = c.read_leases();
    if (plexer_) {
      auto path = plexer_->uplink().leaseLogPath(rl.run());
      struct stat st {};
      uint64_t size = ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
      auto r = sys::readConcatenated({{path, size}}, rl.offset(),
                                     std::min<uint32_t>(rl.max_bytes(), 8u << 20));
      if (!r) {
        rep->set_ok(false);
        rep->set_error(r.error().message);
      } else {
        rep->set_text(std::move(r->first));
        rep->set_text_end(r->second >= size);
      }
    } else {
      rep->set_text_end(true);
    }
  } else if (c.has_read_pcap()) {
    const auto& rp = c.read_pcap();
    std::vector<std::pair<std::string, uint64_t>> files;
    if (plexer_) {
      files = plexer_->capture().files(rp.run());
      // The ZEP radio's pcapng (802.15.4, its own section) follows the Ethernet capture.
      for (auto& f : plexer_->zep().files(rp.run())) files.push_back(std::move(f));
    }
    uint32_t max = std::min<uint32_t>(rp.max_bytes(), 8u << 20);
    Result<std::pair<std::string, bool>> r = std::make_pair(std::string(), true);
    uint64_t total = 0;
    for (const auto& f : files) total += f.second;
    if (rp.one_instance()) {
      std::lock_guard lock(cutMu_);
      if (rp.offset() == 0 || cut_.run != rp.run() || cut_.index != rp.index()) {
        cut_ = {rp.run(), rp.index(), {}};
        if (total > (1ull << 30)) {
          r = failMsg("the run's capture is larger than 1 GiB here; download the whole run");
        } else if (total > 0) {
          auto all = sys::readConcatenated(files, 0, total);
          if (!all)
            r = fail(all.error());
          else if (auto one =
                       plexer::filterInterface(all->first, displayName({rp.run(), rp.index()})))
            cut_.data = std::move(*one);
        }
      }
      if (r) {
        uint64_t off = std::min<uint64_t>(rp.offset(), cut_.data.size());
        std::string part = cut_.data.substr(off, max);
        r = std::make_pair(part, off + part.size() >= cut_.data.size());
      }
    } else if (auto part = sys::readConcatenated(files, rp.offset(), max); !part) {
      r = fail(part.error());
    } else {
      r = std::make_pair(std::move(part->first), part->second >= total);
    }
    if (!r) {
      rep->set_ok(false);
      rep->set_error(r.error().message);
    } else {
      rep->set_pcap(std::move(r->first));
      rep->set_pcap_end(r->second);
    }
  } else if (c.has_console()) {
    if (auto r = runtime_.console(unref(c.console().id()), c.console().line()); !r) {
      rep->set_ok(false);
      rep->set_error(r.error().message);
    }
  } else if (c.has_read_log()) {
    uint32_t max = std::min<uint32_t>(c.read_log().max_bytes_each(), 8u << 20);
    for (const auto& cur : c.read_log().cursors()) {
      auto* ch = rep->add_logs();
      *ch->mutable_id() = cur.id();
      InstanceId id = unref(cur.id());
      auto r = readLog(runtime_.logPath(id), cur.offset(), max);
      if (!r) {
        ch->set_missing(true);
        ch->set_offset(cur.offset());
        continue;
      }
      ch->set_data(std::move(r->first));
      ch->set_offset(r->second);
    }
  } else if (c.has_jitter()) {
    for (const auto& r : c.jitter().ids()) {
      std::vector<double> s;
      (void)jitterFromLog(runtime_.logPath(unref(r)), c.jitter().period_ms(), s);
      rep->add_sample_counts(static_cast<uint32_t>(s.size()));
      for (double x : s) rep->add_samples(x);
    }
  } else {
    rep->set_ok(false);
    rep->set_error("unknown command");
  }
  // Events first: the master learns the states before it learns the command finished.
  conn.flush(events_);
  conn.write(out);
}

}  // namespace kuiga::worker
