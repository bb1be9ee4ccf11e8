// One run, one radio, wherever its devices run: a run spread over MultiWorkerTest's three workers
// has one cell (its UEs, medium and lease log; its ZEP dispatcher), on one worker, which the
// devices on the others reach over the run's radio network (VXLAN over the hosts' underlay).
#include <regex>
#include <set>
#include <sstream>

#include "sys/file.hpp"
#include "tests/master/multi_worker_fixture.hpp"

namespace kuiga::test {
namespace {

std::string readText(const std::string& path) {
  return sys::readFile(path).value_or("");
}

class RadioAcrossWorkersTest : public MultiWorkerTest {
 protected:
  // A run of example `aut`, or of the AUT at `aut` when it is a path.
  int create(const std::string& aut, const json& spec) {
    const std::string path = aut[0] == '/' ? aut : std::string(KUIGA_EXAMPLES) + "/" + aut;
    auto r = api_->upload("/api/v1/runs", path, "aut", {{"spec", spec.dump()}});
    EXPECT_TRUE(r);
    if (!r) return 0;
    EXPECT_EQ(r->status, 201) << r->text;
    return r->body.value("id", 0);
  }
  json get(const std::string& path) {
    auto r = api_->get(path);
    return r ? *r : json();
  }
  json radio(int id) { return get(fmt::format("/api/v1/runs/{}/radio", id)); }
  std::string instanceLog(int id, int k) {
    auto r = api_->request("GET", fmt::format("/api/v1/runs/{}/instances/{}/logs", id, k));
    return r ? r->text : "";
  }
  // Whether each of the run's `count` zep-nodes logged "done N" (it sent its N frames).
  bool allDone(int id, int count, int each) {
    for (int k = 0; k < count; ++k)
      if (instanceLog(id, k).find(fmt::format("done {}", each)) == std::string::npos) return false;
    return true;
  }
  // Device index -> the worker holding it.
  std::map<uint32_t, std::string> placement(int id) {
    std::map<uint32_t, std::string> out;
    auto insts = get(fmt::format("/api/v1/runs/{}/instances?limit=1000", id));
    for (const auto& i : insts["items"])
      out[i["index"].get<uint32_t>()] = i["worker"].get<std::string>();
    return out;
  }
  json history(int id) { return get(fmt::format("/api/v1/runs/{}/history", id)); }
  // The "detail" of each cell event in the run's history, oldest first.
  std::vector<std::string> cellEvents(int id) {
    std::vector<std::string> out;
    const json h = history(id);  // held: a range over a temporary's member would dangle
    for (const auto& e : h["events"])
      if (e["kind"] == "cell") out.push_back(e["detail"]);
    return out;
  }
  void startRun(int id, int count) {
    ASSERT_TRUE(eventually([&] { return run(id)["state"] == "ready"; }, 120000))
        << run(id).dump() << logs();
    ASSERT_TRUE(api_->post(fmt::format("/api/v1/runs/{}/start", id)));
    ASSERT_TRUE(eventually(
        [&] {
          auto c = run(id)["counts"];
          return c["running"].get<int>() + c["terminated"].get<int>() == count;
        },
        60000))
        << run(id).dump() << logs();
  }
};

// 300 udp-sensors over three workers, 4 UEs: one cell for all of them. The lease log never has
// more than 4 UEs out, what the sensors sent arrived or was counted as dropped, and the base
// station sees UE addresses only, from devices on every worker.
TEST_F(RadioAcrossWorkersTest, ROOT_KUesAreSharedByEveryDeviceOfARunSpreadOverWorkers) {
  const std::string sink = startStation("5683");
  constexpr int kDevices = 300, kEach = 4;
  int id = create("udp-sensor", {{"count", kDevices},
                                 {"args", fmt::format("send 192.0.2.1 5683 1000 {}", kEach)},
                                 {"policy", "dirty"},
                                 {"radio",
                                  {{"uplink", station_},
                                   {"ues", 4},
                                   {"idle_timeout_ms", 50},
                                   {"ue_queue", 16},
                                   {"loss", 0.05},
                                   {"rate_bps", 2000000},
                                   {"seed", 3}}}});
  ASSERT_NE(id, 0);
  startRun(id, kDevices);
  auto where = placement(id);
  ASSERT_EQ(where.size(), size_t{kDevices});
  // The cell is on the worker of device 0, and shown there.
  const json cellAt = run(id)["cell"];
  ASSERT_TRUE(cellAt.is_object()) << run(id).dump();
  EXPECT_EQ(cellAt["worker"], where[0]) << cellAt.dump();
  EXPECT_EQ(cellAt["moves"], 0);
  ASSERT_TRUE(eventually([&] { return run(id)["counts"]["terminated"] == kDevices; }, 60000))
      << run(id).dump() << logs();
  json r;
  ASSERT_TRUE(eventually(
      [&] {
        r = radio(id);
        return r["cells"].size() == 1 && r["cells"][0]["queue_depth"] == 0 &&
               r["cells"][0]["leases"] == 0;
      },
      20000))
      << r.dump(2);
  const json& cell = r["cells"][0];
  EXPECT_EQ(cell["worker"], where[0]);
  EXPECT_EQ(cell["ues"], 4);
  EXPECT_EQ(cell["max_leases"], 4) << cell.dump();  // 300 devices wanted them; 4 there were
  EXPECT_EQ(cell["grants"], cell["releases"]) << cell.dump();

  uint64_t said = 0;
  for (int k = 0; k < kDevices; ++k) said += countLines(instanceLog(id, k), "sent ");
  EXPECT_EQ(said, uint64_t{kDevices} * kEach);
  uint64_t arrived = 0;
  ASSERT_TRUE(eventually([&] {
    arrived = countLines(readText(sink), "recv ");
    return arrived == r["uplink_frames"].get<uint64_t>();
  })) << arrived
      << " arrived; " << r.dump(2);
  EXPECT_EQ(r["to_station_frames"].get<uint64_t>(), said) << r.dump(2);
  EXPECT_EQ(said, arrived + totalDropped(r)) << r.dump(2);
  // One entry per device, at its own worker, and every worker's devices got through.
  ASSERT_EQ(r["devices"].size(), size_t{kDevices}) << r.dump(2);
  std::map<std::string, uint64_t> upByWorker;
  for (const auto& d : r["devices"]) {
    auto name = d["name"].get<std::string>();
    uint32_t k = std::stoul(name.substr(name.rfind('-') + 1));
    EXPECT_EQ(d["worker"], where[k]) << d.dump();
    upByWorker[d["worker"]] += d["uplink_frames"].get<uint64_t>();
  }
  ASSERT_EQ(upByWorker.size(), 3u);
  for (const auto& [w, n] : upByWorker) EXPECT_GT(n, 0u) << w;

  // The base station saw at most 4 sources, all UE addresses.
  std::set<std::string> sources;
  std::istringstream in(readText(sink));
  const std::regex recv(R"(recv \d+ ([0-9a-f.:]+): )");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, recv)) sources.insert(m[1]);
  }
  EXPECT_LE(sources.size(), 4u);
  EXPECT_GE(sources.size(), 1u);
  for (const auto& s : sources)
    EXPECT_NE(s.find(fmt::format("100.{}.0.", 64 + id % 64)), std::string::npos) << s;

  // One lease log, every grant and release in it, never more than 4 out at once.
  auto leases = api_->request("GET", fmt::format("/api/v1/runs/{}/radio/leases", id));
  ASSERT_TRUE(leases);
  EXPECT_EQ(countLines(leases->text, " grant "), cell["grants"].get<uint64_t>());
  EXPECT_EQ(countLines(leases->text, " release "), cell["releases"].get<uint64_t>());
  int out = 0, most = 0;
  std::istringstream log(leases->text);
  for (std::string line; std::getline(log, line);) {
    if (line.find(" grant ") != std::string::npos) most = std::max(most, ++out);
    if (line.find(" release ") != std::string::npos) --out;
  }
  EXPECT_EQ(most, 4);
  EXPECT_EQ(out, 0);
  ASSERT_TRUE(api_->del(fmt::format("/api/v1/runs/{}", id)));
  EXPECT_TRUE(eventually([&] { return run(id)["state"] == "deleted"; }, 60000)) << logs();
}

// The worker holding a run's cell is lost: under "reschedule" the cell opens on another
// worker, named in the run, and every device (the moved ones too) reaches the station again.
TEST_F(RadioAcrossWorkersTest, ROOT_WhenTheCellsWorkerIsLostTheCellMovesAndDevicesTalkAgain) {
  const std::string sink = startStation("5684");
  constexpr int kDevices = 6;
  int id = create("udp-sensor", {{"count", kDevices},
                                 {"args", "send 192.0.2.1 5684 200"},
                                 {"policy", "reschedule"},
                                 {"radio", {{"uplink", station_}, {"ues", kDevices}}}});
  ASSERT_NE(id, 0);
  startRun(id, kDevices);
  auto where = placement(id);
  const std::string host = run(id)["cell"]["worker"];
  ASSERT_EQ(host, where[0]);
  std::vector<uint32_t> moved;
  for (const auto& [k, w] : where)
    if (w == host) moved.push_back(k);
  const int lost = host.back() - '0';
  killAndReap(workers_[lost], SIGKILL);
  ASSERT_TRUE(eventually(
      [&] {
        auto r = run(id);
        return r["cell"].is_object() && r["cell"]["worker"] != host && r["cell"]["moves"] == 1 &&
               r["counts"]["running"] == kDevices;
      },
      60000))
      << run(id).dump() << logs();
  // The new cell counts afresh: every device, moved or not, gets frames through it.
  json r;
  EXPECT_TRUE(eventually(
      [&] {
        r = radio(id);
        if (r["cells"].size() != 1 || r["devices"].size() != size_t{kDevices}) return false;
        for (const auto& d : r["devices"])
          if (d["uplink_frames"].get<uint64_t>() == 0) return false;
        return true;
      },
      30000))
      << r.dump(2) << logs();
  EXPECT_EQ(r["cells"][0]["worker"], run(id)["cell"]["worker"]);
  auto now = placement(id);
  for (uint32_t k : moved) EXPECT_NE(now[k], host) << k;
  // The run's history names the move.
  const std::string to = run(id)["cell"]["worker"];
  EXPECT_EQ(cellEvents(id),
            (std::vector<std::string>{
                "cell on " + host,
                fmt::format("cell moved from {} (lost) to {} (move 1): its radio counters start "
                            "again",
                            host, to)}))
      << history(id).dump();
  ASSERT_TRUE(api_->del(fmt::format("/api/v1/runs/{}", id)));
  EXPECT_TRUE(eventually([&] { return run(id)["state"] == "deleted"; }, 60000)) << logs();
}

// A plexer of its own holds the cells of runs spread over the three workers: devices on every
// worker reach the station through it, and one another through its ZEP dispatcher. SIGKILL of
// the plexer: a "dirty" run goes dirty, a "reschedule" run's cell opens on a worker, and its
// devices talk again.
TEST_F(RadioAcrossWorkersTest, ROOT_APlexerOfItsOwnHoldsTheCellsOfRunsOnEveryWorker) {
  startPlexer();
  const std::string plexer = names_[kWorkers];
  ASSERT_TRUE(eventually([&] { return online() == kWorkers + 1; }, 30000)) << logs();
  for (const auto& w : get("/api/v1/workers"))
    EXPECT_EQ(w["role"], w["name"] == plexer ? "plexer" : "worker") << w.dump();
  const std::string sink = startStation("5685");
  auto allTalk = [&](int id, int count, const std::string& at) {
    json r = radio(id);
    if (r["cells"].size() != 1 || r["cells"][0]["worker"] != at) return false;
    if (r["devices"].size() != size_t(count)) return false;
    for (const auto& d : r["devices"])
      if (d["uplink_frames"].get<uint64_t>() == 0) return false;
    return true;
  };
  int keep = create("udp-sensor", {{"count", 6},
                                   {"args", "send 192.0.2.1 5685 200"},
                                   {"policy", "reschedule"},
                                   {"radio", {{"uplink", station_}, {"ues", 6}}}});
  int lose = create("udp-sensor", {{"count", 3},
                                   {"args", "send 192.0.2.1 5685 200"},
                                   {"policy", "dirty"},
                                   {"radio", {{"uplink", station_}, {"ues", 3}}}});
  ASSERT_NE(keep, 0);
  ASSERT_NE(lose, 0);
  startRun(keep, 6);
  startRun(lose, 3);
  EXPECT_EQ(run(keep)["cell"]["worker"], plexer) << run(keep).dump();
  EXPECT_EQ(run(lose)["cell"]["worker"], plexer) << run(lose).dump();
  EXPECT_TRUE(eventually([&] { return allTalk(keep, 6, plexer); }, 30000))
      << radio(keep).dump(2) << logs();
  // No worker's core holds the gateway: each relays to the plexer's.
  for (int k = 0; k < kWorkers; ++k) {
    auto addresses = commandOutput(fmt::format(
        "nsenter --net={}/w{}/radio.netns ip -o addr show dev rc{:x}", dir_.path(), k, keep));
    EXPECT_EQ(addresses.find(gatewayIpv4(static_cast<RunId>(keep))), std::string::npos)
        << k << ": " << addresses;
  }
  auto leases = api_->request("GET", fmt::format("/api/v1/runs/{}/radio/leases", keep));
  ASSERT_TRUE(leases);
  EXPECT_EQ(countLines(leases->text, " grant "), 6u) << leases->text;

  // A ZEP grid over the three workers, its dispatcher on the plexer.
  constexpr int kNodes = 9, kEach = 3;
  int zep =
      create("zep-node", {{"count", kNodes},
                          {"args", fmt::format("-z {{zep}} --eui64 {{eui64}} --hello --send {} "
                                               "--interval 300 --delay 1000",
                                               kEach)},
                          {"zep", {{"topology", "grid"}, {"probability", 1.0}}}});
  ASSERT_NE(zep, 0);
  startRun(zep, kNodes);
  EXPECT_EQ(run(zep)["cell"]["worker"], plexer);
  ASSERT_TRUE(eventually([&] { return allDone(zep, kNodes, kEach); }, 30000)) << logs();
  ::usleep(300'000);
  json z = radio(zep);
  EXPECT_EQ(z["zep"]["sent"], kNodes * kEach) << z.dump();
  // 12 links of a 3 by 3 grid, each way, every frame delivered.
  EXPECT_EQ(z["zep"]["received"], 24 * kEach) << z.dump();
  int logged = 0;
  for (int k = 0; k < kNodes; ++k) logged += countLines(instanceLog(zep, k), " rx ");
  EXPECT_EQ(logged, 24 * kEach);

  // The master is killed and started again: the cells stay on the plexer, whichever node
  // registers first, the devices go on talking through it, and no history gains a line.
  killAndReap(master_, SIGKILL);
  startMaster();
  ASSERT_TRUE(eventually([&] { return online() == kWorkers + 1; }, 30000)) << logs();
  for (int id : {keep, lose, zep}) {
    EXPECT_EQ(run(id)["cell"]["worker"], plexer) << run(id).dump();
    EXPECT_EQ(run(id)["cell"]["moves"], 0) << run(id).dump();
    EXPECT_EQ(cellEvents(id), std::vector<std::string>{"cell on " + plexer})
        << id << history(id).dump();
  }
  const uint64_t before = radio(keep)["uplink_frames"].get<uint64_t>();
  EXPECT_TRUE(
      eventually([&] { return radio(keep)["uplink_frames"].get<uint64_t>() > before + 30; }, 20000))
      << radio(keep).dump(2) << logs();
  // Every node is still online a few seconds later: none was declared lost as it reconnected.
  ::sleep(3);
  EXPECT_EQ(online(), kWorkers + 1) << get("/api/v1/workers").dump() << logs();

  killAndReap(workers_[kWorkers], SIGKILL);
  EXPECT_TRUE(eventually(
      [&] {
        auto r = run(lose);
        return r["state"] == "dirty" &&
               r["reason"].get<std::string>().find(plexer) != std::string::npos;
      },
      30000))
      << run(lose).dump();
  ASSERT_TRUE(eventually(
      [&] {
        auto r = run(keep);
        return r["cell"].is_object() && r["cell"]["worker"] != plexer && r["cell"]["moves"] == 1;
      },
      30000))
      << run(keep).dump() << logs();
  const std::string moved = run(keep)["cell"]["worker"];
  EXPECT_TRUE(eventually([&] { return allTalk(keep, 6, moved); }, 30000))
      << radio(keep).dump(2) << logs();
  EXPECT_EQ(cellEvents(keep).back(),
            fmt::format("cell moved from {} (lost) to {} (move 1): its radio counters start again",
                        plexer, moved));
  json lost;
  const json lostHistory = history(lose);
  for (const auto& e : lostHistory["events"])
    if (e["kind"] == "state") lost = e;
  EXPECT_EQ(lost["state"], "dirty") << lost.dump();
  EXPECT_NE(lost["detail"].get<std::string>().find(plexer), std::string::npos) << lost.dump();

  // The plexer comes back (its radio namespace re-adopted) holding the three cells it had:
  // each moved or ended meanwhile, so the master has it close them all, and they stay where
  // they are.
  const std::string pxRadio =
      fmt::format("nsenter --net={}/w{}/radio.netns", dir_.path(), kWorkers);
  std::string tunnels = commandOutput(pxRadio + " ip -o link show type vxlan");
  EXPECT_NE(tunnels.find(" rx"), std::string::npos) << tunnels;  // what SIGKILL left there
  startPlexer();
  ASSERT_TRUE(eventually([&] { return online() == kWorkers + 1; }, 30000)) << logs();
  EXPECT_TRUE(eventually(
      [&] {
        tunnels = commandOutput(pxRadio + " ip -o link show type vxlan");
        return tunnels.find(" rx") == std::string::npos;
      },
      20000))
      << tunnels << logs();
  EXPECT_EQ(run(keep)["cell"]["worker"], moved);
  EXPECT_EQ(run(keep)["cell"]["moves"], 1);
  EXPECT_TRUE(eventually([&] { return allTalk(keep, 6, moved); }, 30000))
      << radio(keep).dump(2) << logs();
}

// The "rx SRC-EUI SEQ LEN" lines of a node's log, counted by source.
std::map<std::string, int> receivedBySource(const std::string& text) {
  std::map<std::string, int> from;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto at = line.find(" rx ");
    if (at != std::string::npos) ++from[line.substr(at + 4, 23)];
  }
  return from;
}

// 60 zep-nodes on a 10-wide grid, spread over three workers, share the run's one dispatcher:
// frames travel along the grid's links only, across hosts too, and what each node logged as
// received is what the dispatcher delivered to it.
TEST_F(RadioAcrossWorkersTest, ROOT_AZepGridSpreadOverWorkersHasOneDispatcher) {
  constexpr int kNodes = 60, kCols = 10, kEach = 4;
  int id = create("zep-node",
                  {{"count", kNodes},
                   {"args", fmt::format("-z {{zep}} --eui64 {{eui64}} --index {{index}} --hello "
                                        "--send {} --interval 500 --delay 1500",
                                        kEach)},
                   {"zep", {{"topology", "grid"}, {"cols", kCols}, {"probability", 1.0}}}});
  ASSERT_NE(id, 0);
  startRun(id, kNodes);
  auto where = placement(id);
  std::set<std::string> workers;
  for (const auto& [k, w] : where) workers.insert(w);
  ASSERT_EQ(workers.size(), 3u);
  EXPECT_EQ(run(id)["cell"]["worker"], where[0]);
  ASSERT_TRUE(eventually([&] { return allDone(id, kNodes, kEach); }, 60000)) << logs();
  ::usleep(500'000);  // the last copies leave the air

  std::map<std::string, uint32_t> indexOf;  // EUI-64 -> device index
  for (uint32_t k = 0; k < kNodes; ++k)
    indexOf[eui64String(eui64({static_cast<RunId>(id), k}))] = k;
  auto neighbours = [&](uint32_t a, uint32_t b) {
    uint32_t lo = std::min(a, b), hi = std::max(a, b);
    return (hi == lo + 1 && hi % kCols != 0) || hi == lo + kCols;
  };
  json r = radio(id);
  std::map<uint32_t, json> zep;
  for (const auto& d : r["devices"]) {
    auto name = d["name"].get<std::string>();
    uint32_t k = std::stoul(name.substr(name.rfind('-') + 1));
    EXPECT_EQ(d["worker"], where[k]) << d.dump();
    if (d.contains("zep")) zep[k] = d["zep"];
  }
  ASSERT_EQ(zep.size(), size_t{kNodes}) << r.dump();
  EXPECT_EQ(r["zep"]["sent"], kNodes * kEach) << r["zep"].dump();
  int crossHost = 0, total = 0;
  for (uint32_t k = 0; k < kNodes; ++k) {
    EXPECT_EQ(zep[k]["sent"], kEach) << k;
    auto rx = receivedBySource(instanceLog(id, k));
    int logged = 0;
    for (const auto& [src, n] : rx) {
      auto from = indexOf.find(src);
      ASSERT_NE(from, indexOf.end()) << k << " heard " << src;
      EXPECT_TRUE(neighbours(k, from->second)) << k << " heard " << from->second;
      EXPECT_EQ(n, kEach) << k << " from " << from->second;  // probability 1: all of them
      if (where[from->second] != where[k]) crossHost += n;
      logged += n;
    }
    EXPECT_EQ(logged, zep[k]["received"].get<int>() - zep[k]["unreachable"].get<int>() -
                          zep[k]["send_errors"].get<int>())
        << k << " " << zep[k].dump();
    total += logged;
  }
  // Every link of the grid, each way.
  constexpr int kRows = kNodes / kCols, kLinks = (kCols - 1) * kRows + kCols * (kRows - 1);
  EXPECT_EQ(total, 2 * kLinks * kEach);
  EXPECT_GT(crossHost, 0);
  RecordProperty("cross_host_deliveries", crossHost);
  ASSERT_TRUE(api_->del(fmt::format("/api/v1/runs/{}", id)));
  EXPECT_TRUE(eventually([&] { return run(id)["state"] == "deleted"; }, 60000)) << logs();
}

// Contiki-NG native devices number themselves in IPv6 prefixes of their own behind tun0, which
// only a router reaches: the run's cell, on one host, routes every device's prefix over the
// run's radio network, and the other hosts route none. Devices on three workers reach the base
// station through the cell's UEs and hear back; in a run with no radio spec (its cell is only
// its router) every device reaches device 1, also when neither end is on the cell's host. When
// the router's worker is lost, the cell moves and the moved devices, in their same prefixes,
// reach device 1 again.
TEST_F(RadioAcrossWorkersTest, ROOT_ContikiDevicesInPrefixesOfTheirOwnAreRoutedAcrossWorkers) {
  startStation("5687", true);
  const std::string aut = std::string(KUIGA_TEST_APPS) + "/tun6_node";
  constexpr int kDevices = 6, kEach = 5;
  int up = create(
      aut, {{"count", kDevices},
            {"profile", "contiki-native"},
            {"args", fmt::format("--prefix {{prefix}} --to 2001:db8::1 5687 --count {}", kEach)},
            {"radio", {{"uplink", station_}, {"ues", 2}, {"idle_timeout_ms", 100}}}});
  int mesh =
      create(aut, {{"count", kDevices},
                   {"profile", "contiki-native"},
                   {"policy", "reschedule"},
                   {"args", fmt::format("--prefix {{prefix}} --ping-index 1 --count {}", kEach)}});
  ASSERT_NE(up, 0);
  ASSERT_NE(mesh, 0);
  startRun(up, kDevices);
  startRun(mesh, kDevices);
  auto node = [](int id, uint32_t k) {
    return fmt::format("fd6c:7569:{:x}:{:x}:302:304:506:708", id, k);
  };
  auto repliedBy = [&](int id, uint32_t k, const std::string& from) {
    return instanceLog(id, k).find(fmt::format("reply {} from {}", kEach - 1, from)) !=
           std::string::npos;
  };
  std::set<std::string> spread;
  for (const auto& [k, w] : placement(up)) spread.insert(w);
  ASSERT_EQ(spread.size(), 3u);
  for (uint32_t k = 0; k < kDevices; ++k)
    EXPECT_TRUE(eventually([&] { return repliedBy(up, k, "2001:db8::1"); }, 20000))
        << k << ": " << instanceLog(up, k) << radio(up).dump(2);
  json r = radio(up);
  EXPECT_EQ(r["cells"].size(), 1u) << r.dump(2);
  EXPECT_GE(r["uplink_frames"].get<uint64_t>(), uint64_t{kDevices * kEach}) << r.dump(2);

  // The mesh run: a cell with neither radio nor ZEP, its router.
  auto where = placement(mesh);
  const std::string router = run(mesh)["cell"]["worker"];
  ASSERT_EQ(router, where[0]) << run(mesh).dump();
  ASSERT_NE(where[1], router);  // device 1 is behind a relay
  int relayed = 0;              // pings from a relay to a relay, routed by a third host
  for (uint32_t k = 0; k < kDevices; ++k) {
    if (k == 1) continue;
    relayed += where[k] != router && where[k] != where[1];
    EXPECT_TRUE(eventually([&] { return repliedBy(mesh, k, node(mesh, 1)); }, 20000))
        << k << " on " << where[k] << ": " << instanceLog(mesh, k) << instanceLog(mesh, 1);
  }
  EXPECT_GT(relayed, 0);
  // Only the router's radio namespace routes the run's prefixes (all of them) or has its
  // gateway address.
  for (int w = 0; w < kWorkers; ++w) {
    const std::string radioNs = fmt::format("nsenter --net={}/w{}/radio.netns", dir_.path(), w);
    const std::string routes = commandOutput(radioNs + " ip -6 route show");
    const auto routed = countLines(routes, fmt::format("fd6c:7569:{:x}:", mesh));
    const auto addresses =
        commandOutput(fmt::format("{} ip -o addr show dev rc{:x}", radioNs, mesh));
    const bool isRouter = names_[w] == router;
    EXPECT_EQ(routed, isRouter ? size_t{kDevices} : 0u) << names_[w] << ":\n" << routes;
    EXPECT_EQ(addresses.find(gatewayIpv4(static_cast<RunId>(mesh))) != std::string::npos, isRouter)
        << names_[w] << ": " << addresses;
  }

  // The router's worker is lost: the cell moves, and the devices that moved with it come up
  // on the others, in their same prefixes, and reach device 1 again.
  std::vector<uint32_t> moved;
  for (const auto& [k, w] : where)
    if (w == router) moved.push_back(k);
  killAndReap(workers_[router.back() - '0'], SIGKILL);
  ASSERT_TRUE(eventually(
      [&] {
        auto m = run(mesh);
        return m["cell"].is_object() && m["cell"]["worker"] != router && m["cell"]["moves"] == 1 &&
               m["counts"]["running"] == kDevices;
      },
      60000))
      << run(mesh).dump() << logs();
  auto now = placement(mesh);
  for (uint32_t k : moved) {
    EXPECT_NE(now[k], router) << k;
    if (k == 1) continue;
    EXPECT_TRUE(eventually([&] { return repliedBy(mesh, k, node(mesh, 1)); }, 20000))
        << k << " now on " << now[k] << ": " << instanceLog(mesh, k);
  }
  ASSERT_TRUE(api_->del(fmt::format("/api/v1/runs/{}", mesh)));
  EXPECT_TRUE(eventually([&] { return run(mesh)["state"] == "deleted"; }, 60000)) << logs();
}

}  // namespace
}  // namespace kuiga::test
