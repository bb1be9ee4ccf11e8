// The Plexer's ZEP dispatcher end to end: zep_node instances (ZEP v2 over UDP, as RIOT's
// socket_zep) on the ns runtime send 802.15.4 frames to their gateway; the dispatcher delivers
// them along the run's topology; what the nodes logged must match what it counted, and the
// run's pcapng must read as IEEE 802.15.4 in tshark.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sys/fd.hpp"
#include "sys/netns.hpp"
#include "tests/support/cluster.hpp"

namespace kuiga::test {
namespace {

using json = nlohmann::json;

class ZepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces)";
    master_ = std::make_unique<TestMaster>();
    config_.master = master_->url();
    config_.name = uniqueName();
    config_.credentials = credentialsFor(master_->server(), config_.name);
    config_.stateDir = dir_.path() + "/worker";
    config_.initPath = ::kuiga::test::initPath();
    config_.capacity = 30;
    startNode();
  }
  void startNode() {
    auto node = worker::WorkerNode::start(config_);
    ASSERT_TRUE(node) << node.error().message;
    node_ = std::move(*node);
    ASSERT_TRUE(eventually([&] { return node_->connected(); }));
  }
  void TearDown() override {
    if (node_) {
      EXPECT_TRUE(node_->destroy());
    }
  }
  int create(json spec) {
    auto r = api().upload("/api/v1/runs", std::string(KUIGA_EXAMPLES) + "/zep-node", "aut",
                          {{"spec", spec.dump()}});
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->text;
    return r->body.value("id", 0);
  }
  json get(const std::string& path) {
    auto r = api().get(path);
    return r ? *r : json();
  }
  std::string log(int id, int k) {
    auto r = api().request("GET", fmt::format("/api/v1/runs/{}/instances/{}/logs", id, k));
    return r ? r->text : "";
  }
  // The "rx SRC-EUI SEQ LEN" lines of a node's log, counted by source.
  std::map<std::string, int> received(int id, int k) {
    std::map<std::string, int> from;
    std::istringstream in(log(id, k));
    for (std::string line; std::getline(in, line);) {
      auto at = line.find(" rx ");
      if (at != std::string::npos) ++from[line.substr(at + 4, 23)];
    }
    return from;
  }
  // The "rx SRC-EUI SEQ LEN ucast" lines of a node's log (unicast to it), counted by source and
  // sequence number.
  std::map<std::pair<std::string, int>, int> unicastsReceived(int id, int k) {
    std::map<std::pair<std::string, int>, int> seen;
    std::istringstream in(log(id, k));
    for (std::string line; std::getline(in, line);) {
      auto at = line.find(" rx ");
      if (at == std::string::npos || line.find(" ucast") == std::string::npos) continue;
      std::istringstream w(line.substr(at + 4));
      std::string src;
      int seq = -1;
      w >> src >> seq;
      ++seen[{src, seq}];
    }
    return seen;
  }
  // The node's last "summary sent=.. acked=.. ..." line, as numbers.
  std::map<std::string, int> summary(int id, int k) {
    std::map<std::string, int> out;
    std::string text = log(id, k);
    auto at = text.rfind("summary ");
    if (at == std::string::npos) return out;
    std::istringstream w(text.substr(at + 8, text.find('\n', at) - at - 8));
    for (std::string kv; w >> kv;)
      if (auto eq = kv.find('='); eq != std::string::npos)
        out[kv.substr(0, eq)] = std::stoi(kv.substr(eq + 1));
    return out;
  }
  // What node k logged as received is what the dispatcher delivered to it: every copy it
  // counted, but those for the time before the node's first frame told its port.
  void expectLoggedAsCounted(int id, int k, const json& zep) {
    int total = 0;
    for (const auto& [src, n] : received(id, k)) total += n;
    EXPECT_EQ(total, zep["received"].get<int>() - zep["unreachable"].get<int>() -
                         zep["send_errors"].get<int>())
        << k;
  }
  // The ZEP counters of each device of the run, by index.
  std::map<int, json> zepCounters(int id) {
    std::map<int, json> zep;
    json r = get(fmt::format("/api/v1/runs/{}/radio", id));
    for (const auto& d : r["devices"])
      if (d.contains("zep")) {
        auto name = d["name"].get<std::string>();
        zep[std::stoi(name.substr(name.rfind('-') + 1))] = d["zep"];
      }
    return zep;
  }
  // Creates and starts a run of `count` zep-node instances, and waits until every node is done
  // and the air is quiet.
  int runToEnd(int count, const std::string& args, json zep, int each) {
    int id = create({{"count", count}, {"args", args}, {"zep", std::move(zep)}});
    if (id == 0) return 0;
    EXPECT_TRUE(eventually(
        [&] { return get(fmt::format("/api/v1/runs/{}", id))["state"] == "ready"; }, 30000));
    EXPECT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
    EXPECT_TRUE(eventually(
        [&] {
          for (int k = 0; k < count; ++k)
            if (log(id, k).find(k == 0 ? fmt::format("done {}", each) : "done") ==
                std::string::npos)
              return false;
          return true;
        },
        60000));
    ::usleep(500'000);  // the last frames and their echoes leave the air
    return id;
  }
  bool allDone(int id, int count, int each) {
    for (int k = 0; k < count; ++k)
      if (log(id, k).find(fmt::format("done {}", each)) == std::string::npos) return false;
    return true;
  }
  client::ApiClient& api() { return master_->api(); }

  TempDir dir_;
  worker::WorkerNodeConfig config_;
  std::unique_ptr<TestMaster> master_;
  std::unique_ptr<worker::WorkerNode> node_;
};

TEST_F(ZepTest, ROOT_FramesTravelAlongTheTopologyAndAreCountedAndCaptured) {
  constexpr int kNodes = 4, kEach = 40;
  // 0 -- 1 always; 1 -- 2 half the time; 3 hears nobody and nobody hears it. Node k first sends
  // k datagrams that are not ZEP v2 data (v1, an ack, a cut header), counted against it.
  int id =
      create({{"count", kNodes},
              {"args", fmt::format("-z {{zep}} --eui64 {{eui64}} --send {} --interval 25 --garbage "
                                   "{{index}}",
                                   kEach)},
              {"zep", {{"topology", "links"}, {"links", "0 1\ndev-0001 2 0.5\n"}, {"seed", 7}}}});
  ASSERT_TRUE(eventually(
      [&] { return get(fmt::format("/api/v1/runs/{}", id))["state"] == "ready"; }, 30000));
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  ASSERT_TRUE(eventually([&] { return allDone(id, kNodes, kEach); }, 30000));
  ::usleep(300'000);  // the last copies are on the air for a few ms

  json r = get(fmt::format("/api/v1/runs/{}/radio", id));
  ASSERT_FALSE(r["zep"].is_null()) << r.dump();
  std::map<int, json> zep;
  for (const auto& d : r["devices"])
    if (d.contains("zep")) {
      auto name = d["name"].get<std::string>();
      zep[std::stoi(name.substr(name.rfind('-') + 1))] = d["zep"];
    }
  ASSERT_EQ(zep.size(), size_t{kNodes}) << r.dump();
  std::vector<std::string> eui;
  for (int k = 0; k < kNodes; ++k)
    eui.push_back(eui64String(eui64({static_cast<RunId>(id), static_cast<uint32_t>(k)})));
  for (int k = 0; k < kNodes; ++k) {
    // Each node's frames all went on the air (the channel is far from full).
    EXPECT_EQ(zep[k]["sent"], kEach) << k;
    EXPECT_EQ(zep[k]["malformed"], k) << k;
    EXPECT_EQ(zep[k]["dropped_channel"], 0) << k;
    expectLoggedAsCounted(id, k, zep[k]);
  }
  // Along the links only, with each sender's own EUI-64 (given by {eui64}).
  auto rx0 = received(id, 0), rx1 = received(id, 1), rx2 = received(id, 2), rx3 = received(id, 3);
  EXPECT_EQ(rx0.size(), 1u);
  EXPECT_GT(rx0[eui[1]], 0);
  EXPECT_EQ(rx1.size(), 2u);
  EXPECT_GT(rx1[eui[0]], 0);
  EXPECT_GT(rx1[eui[2]], 0);
  EXPECT_EQ(rx2.size(), 1u);
  EXPECT_GT(rx2[eui[1]], 0);
  EXPECT_TRUE(rx3.empty());
  EXPECT_EQ(zep[3]["received"], 0);
  EXPECT_EQ(zep[3]["no_listener"], kEach);
  // 1 -> 0 is certain; 1 <-> 2 at 0.5 each way: what a link lost, its sender counted.
  EXPECT_EQ(zep[0]["received"], kEach);
  EXPECT_EQ(zep[0]["lost_on_links"], 0);
  EXPECT_EQ(zep[2]["received"].get<int>() + zep[1]["lost_on_links"].get<int>(), kEach);
  EXPECT_EQ(zep[1]["received"].get<int>() - kEach + zep[2]["lost_on_links"].get<int>(), kEach);
  EXPECT_GT(zep[1]["lost_on_links"].get<int>(), 0);
  EXPECT_GT(zep[2]["received"].get<int>(), 0);
  EXPECT_EQ(r["zep"]["malformed"], 0 + 1 + 2 + 3) << r["zep"].dump();
  EXPECT_EQ(r["zep"]["sent"], kNodes * kEach) << r["zep"].dump();

  // A datagram from an address that is no run's device is counted for the worker. Sent from
  // the radio namespace's loopback, where the dispatcher also listens.
  {
    auto inRadio = sys::netns::ThreadGuard::enter(node_->nsRuntime()->radioNetnsFd());
    ASSERT_TRUE(inRadio) << inRadio.error().message;
    sys::UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(s.valid());
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(17754);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 2; ++i)
      ASSERT_EQ(::sendto(s.get(), "EX", 2, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 2);
  }
  auto unplaceable = [&] {
    for (const auto& w : get("/api/v1/workers"))
      if (w["name"] == config_.name) return w.value("zep_unplaceable_datagrams", uint64_t{99});
    return uint64_t{99};
  };
  EXPECT_TRUE(eventually([&] { return unplaceable() == 2; }, 10000)) << unplaceable();
  // The same in /metrics, with the run's ZEP families.
  auto metrics = api().request("GET", "/metrics");
  ASSERT_TRUE(metrics);
  for (const std::string& line :
       {fmt::format("kuiga_worker_zep_unplaceable_datagrams_total{{worker=\"{}\"}} 2\n",
                    config_.name),
        fmt::format("kuiga_zep_malformed_datagrams_total{{run=\"{}\"}} 6\n", id),
        fmt::format("kuiga_zep_sent_frames_total{{run=\"{}\"}} {}\n", id, kNodes * kEach),
        fmt::format("kuiga_zep_lost_total{{run=\"{}\",cause=\"no_listener\"}} {}\n", id, kEach)})
    EXPECT_NE(metrics->text.find(line), std::string::npos) << line << metrics->text;

  // The run's capture: its 802.15.4 section read by tshark's wpan dissector, one interface per
  // device; on each device's interface its sent frames carry its own EUI-64. ("not zep": the
  // Ethernet section has the same frames inside the devices' UDP, which tshark decodes too.)
  auto pcap = api().request("GET", fmt::format("/api/v1/runs/{}/pcap", id));
  ASSERT_TRUE(pcap);
  ASSERT_EQ(pcap->status, 200);
  std::string file = dir_.path() + "/zep.pcapng";
  std::ofstream(file, std::ios::binary) << pcap->text;
  std::string out = dir_.path() + "/tshark.txt";
  ASSERT_EQ(
      std::system(
          fmt::format("tshark -r {} -Y 'wpan and not zep and frame.packet_flags_direction == 2' "
                      "-T fields -e frame.interface_name -e wpan.src64 "
                      "-e wpan.fcs_ok > {} 2>{}.err",
                      file, out, out)
              .c_str()),
      0);
  std::map<std::string, int> sentOn;
  std::ifstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream w(line);
    std::string iface, src, fcsOk;
    w >> iface >> src >> fcsOk;
    ASSERT_EQ(iface.rfind("run-", 0), 0u) << line;
    int k = std::stoi(iface.substr(iface.rfind('-') + 1));
    EXPECT_EQ(src, eui[k]) << line;
    EXPECT_TRUE(fcsOk == "1" || fcsOk == "True") << line;  // zep_node computes the FCS
    ++sentOn[iface];
  }
  ASSERT_EQ(sentOn.size(), size_t{kNodes}) << out;
  for (const auto& [iface, n] : sentOn) EXPECT_EQ(n, kEach) << iface;
}

// A riot-native AUT with a "zep" radio and no arguments gets RIOT's ZEP mode:
// "-z GATEWAY:17754 --eui64 EUI" (zep_node then sends 10 frames, 100 ms apart).
TEST_F(ZepTest, ROOT_RiotNativeGetsZepModeArguments) {
  int id = create({{"count", 2}, {"profile", "riot-native"}, {"zep", {{"topology", "flat"}}}});
  auto spec = get(fmt::format("/api/v1/runs/{}", id))["spec"];
  EXPECT_EQ(spec["args"], json({"-z", "{zep}", "--eui64", "{eui64}"})) << spec.dump();
  EXPECT_EQ(spec["net"], "veth");
  ASSERT_TRUE(eventually(
      [&] { return get(fmt::format("/api/v1/runs/{}", id))["state"] == "ready"; }, 30000));
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  ASSERT_TRUE(eventually([&] { return allDone(id, 2, 10); }, 30000));
  ::usleep(300'000);
  // Node 0 heard node 1 and the other way round (but for frames sent before the other's first).
  auto rx0 = received(id, 0), rx1 = received(id, 1);
  auto e0 = eui64String(eui64({static_cast<RunId>(id), 0}));
  auto e1 = eui64String(eui64({static_cast<RunId>(id), 1}));
  EXPECT_GE(rx0[e1], 8);
  EXPECT_GE(rx1[e0], 8);
}

TEST_F(ZepTest, ROOT_ARestartedWorkerReopensTheZepRadio) {
  // Two nodes, 100 frames 100 ms apart: the worker process restarts while they send.
  int id = create({{"count", 2},
                   {"args", "-z {zep} --eui64 {eui64} --send 100 --interval 100"},
                   {"zep", {{"topology", "flat"}}}});
  ASSERT_TRUE(eventually(
      [&] { return get(fmt::format("/api/v1/runs/{}", id))["state"] == "ready"; }, 30000));
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  auto heard = [&] {
    int n = 0;
    for (const auto& [src, k] : received(id, 0)) n += k;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return heard() >= 10; }));
  int before = heard();  // (logs are read through the worker: before it goes)
  node_.reset();         // the worker process "exits": instances and the radio network stay
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  startNode();
  // The new worker process reopened the run's ZEP radio from its state directory.
  ASSERT_TRUE(eventually([&] { return heard() >= before + 10; }, 20000)) << log(id, 0);
  json r = get(fmt::format("/api/v1/runs/{}/radio", id));
  EXPECT_GT(r["zep"]["sent"].get<int>(), 0) << r.dump();
  // The capture from before the restart is still there, with the frames after it.
  auto pcap = api().request("GET", fmt::format("/api/v1/runs/{}/pcap", id));
  ASSERT_TRUE(pcap);
  EXPECT_EQ(pcap->status, 200);
}

// Node 0 broadcasts, node 1 answers each broadcast with a unicast that asks for an ACK, as
// RIOT's SubMAC sends it (864 us ACK wait, 3 retries). Both say hello first.
constexpr const char* kEchoArgs =
    "-z {{zep}} --eui64 {{eui64}} --index {{index}} --senders 1 --hello --echo --send {} "
    "--interval {} --delay 1000";

TEST_F(ZepTest, ROOT_AnAckedUnicastGoesOutOnceAndArrivesOnce) {
  constexpr int kEach = 30;
  int id = runToEnd(2, fmt::format(kEchoArgs, kEach, 40), {{"topology", "flat"}}, kEach);
  auto zep = zepCounters(id);
  ASSERT_EQ(zep.size(), 2u);
  auto s1 = summary(id, 1);
  // Node 1 heard every broadcast (it said hello: reachable before its first frame) and answered
  // each once: every answer was acknowledged at once, none was sent again. Except when the
  // machine did not run node 1 within the SubMAC's 864 us (the suite's load on two CPUs): then
  // the ACK is logged as late, the answer goes again, and every count below has it once more.
  // That may happen once or twice in 30; a dispatcher leaving ACKs to node 0 fails every time.
  const std::string text1 = log(id, 1);
  int late = 0;
  for (size_t at = text1.find(" late-ack "); at != std::string::npos;
       at = text1.find(" late-ack ", at + 1))
    ++late;
  const int again = s1["retx"];
  EXPECT_LE(again, late) << text1;
  EXPECT_LE(late * 10, kEach) << text1;
  EXPECT_EQ(s1["rx"], kEach) << text1;
  EXPECT_EQ(s1["sent"], kEach + again) << text1;  // zep-node counts each transmission
  EXPECT_EQ(s1["acked"], kEach) << text1;
  EXPECT_EQ(s1["noack"], 0) << text1;
  EXPECT_EQ(zep[1]["acks"], kEach + again) << zep[1].dump();
  EXPECT_EQ(zep[1]["retransmissions"], again) << zep[1].dump();
  EXPECT_EQ(zep[0]["retransmissions"], 0) << zep[0].dump();
  EXPECT_EQ(zep[0]["hellos"], 1);
  EXPECT_EQ(zep[1]["hellos"], 1);
  EXPECT_EQ(zep[0]["malformed"], 0);
  EXPECT_EQ(zep[1]["unreachable"], 0);
  // Node 0's own ACKs came too late to matter and were dropped; each answer reached it once
  // (or again after a late ACK).
  EXPECT_EQ(zep[0]["own_acks"], kEach + again);
  auto echoes = unicastsReceived(id, 0);
  EXPECT_EQ(echoes.size(), size_t{kEach});
  int copies = 0;
  for (const auto& [key, n] : echoes) {
    EXPECT_LE(n, 2) << key.first << " " << key.second;
    copies += n;
  }
  EXPECT_EQ(copies, kEach + again);
  EXPECT_EQ(zep[0]["received"], kEach + again);
  // The ACKs are in the capture, from node 0's interface, with a good FCS and the sequence
  // numbers of node 1's answers.
  auto pcap = api().request("GET", fmt::format("/api/v1/runs/{}/pcap", id));
  ASSERT_TRUE(pcap);
  std::string file = dir_.path() + "/acks.pcapng", out = dir_.path() + "/acks.txt";
  std::ofstream(file, std::ios::binary) << pcap->text;
  ASSERT_EQ(std::system(fmt::format("tshark -r {} -Y 'wpan.frame_type == 2 and not zep' -T fields "
                                    "-e frame.interface_name -e frame.packet_flags_direction "
                                    "-e wpan.seq_no -e wpan.fcs_ok > {} 2>{}.err",
                                    file, out, out)
                            .c_str()),
            0);
  std::map<std::string, int> acksOn;
  std::ifstream in(out);
  std::string lines;
  for (std::string line; std::getline(in, line);) {
    lines += line + "\n";
    std::istringstream w(line);
    std::string iface, direction, seq, fcsOk;
    w >> iface >> direction >> seq >> fcsOk;
    EXPECT_TRUE(fcsOk == "1" || fcsOk == "True") << line;
    ++acksOn[iface + ((std::stoul(direction, nullptr, 0) & 3) == 2 ? " sent" : " received")];
  }
  auto dev = [&](int k) { return fmt::format("run-{}/dev-{:04d}", id, k); };
  EXPECT_EQ(acksOn[dev(0) + " sent"], kEach + again) << lines;
  EXPECT_EQ(acksOn[dev(1) + " received"], kEach + again) << lines;
  // And in kuiga radio's counters in /metrics.
  auto metrics = api().request("GET", "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->text.find(
                fmt::format("kuiga_zep_acked_frames_total{{run=\"{}\"}} {}\n", id, kEach + again)),
            std::string::npos)
      << metrics->text;
}

// The fault a dispatcher that leaves ACKs to the devices shows, as RIOT users saw it: the
// receiver's ACK arrives after the sender's ACK wait, so answers go out again and arrive twice.
TEST_F(ZepTest, ROOT_LeftToTheDevicesAcksComeTooLateAndFramesRepeat) {
  constexpr int kEach = 20;
  int id = runToEnd(2, fmt::format(kEchoArgs, kEach, 50),
                    {{"topology", "flat"}, {"acks", "devices"}}, kEach);
  auto zep = zepCounters(id);
  EXPECT_GT(zep[1]["retransmissions"].get<int>(), kEach / 2) << zep[1].dump();
  EXPECT_EQ(zep[1]["acks"], 0);
  EXPECT_EQ(zep[0]["own_acks"], 0);
  EXPECT_EQ(zep[1]["retransmissions"], summary(id, 1)["retx"]) << log(id, 1);
  int duplicates = 0;
  for (const auto& [key, n] : unicastsReceived(id, 0)) duplicates += n - 1;
  EXPECT_GT(duplicates, kEach / 2) << log(id, 0);
}

// A link that loses half the frames: lost answers are not acknowledged and are sent again, what
// each node logged is what the dispatcher delivered to it, and the same seed gives the same
// counts. Each link draws from its own stream, so node 0's 40 broadcasts meet the same draws in
// both runs whatever the host's timing: what node 0 sent and lost and what node 1 received are
// equal, always. Node 1's answers (and so what node 0 received) are equal too unless the host's
// timing changed what node 1 did: an ACK that came after its wait (an answer sent once more,
// "late-ack" in its log, and an ACK the dispatcher counted that node 1 did not) or a broadcast
// that arrived while it waited for one (dropped_in_ack_wait). The nodes wait 2 ms for an ACK,
// as in the grid below, to make that rare; when it happens, the run says so.
TEST_F(ZepTest, ROOT_OnALossyLinkLostFramesAreRetriedAndTheSameSeedGivesTheSameCounts) {
  constexpr int kEach = 40;
  int timing = 0;  // late ACKs and broadcasts dropped in an ACK wait, both runs
  auto once = [&] {
    int id = runToEnd(2, fmt::format(kEchoArgs, kEach, 30) + " --ack-wait 2000",
                      {{"topology", "links"}, {"links", "0 1 0.5\n"}, {"seed", 11}}, kEach);
    auto zep = zepCounters(id);
    auto s0 = summary(id, 0), s1 = summary(id, 1);
    const std::string text1 = log(id, 1);
    int late = 0;
    for (size_t at = text1.find(" late-ack "); at != std::string::npos;
         at = text1.find(" late-ack ", at + 1))
      ++late;
    timing += late + s1["dropped_in_ack_wait"];
    EXPECT_GT(zep[1]["retransmissions"].get<int>(), 0) << zep[1].dump();
    EXPECT_EQ(zep[1]["retransmissions"], s1["retx"]) << text1;
    EXPECT_EQ(zep[1]["acks"], s1["acked"] + late) << text1;
    EXPECT_EQ(s1["acked"] + s1["noack"], s1["rx"]);  // every broadcast heard, answered
    EXPECT_EQ(s0["rx"], zep[0]["received"]) << log(id, 0);
    EXPECT_EQ(s1["rx"] + s1["dropped_in_ack_wait"], zep[1]["received"]) << text1;
    EXPECT_EQ(zep[0]["unreachable"], 0);
    EXPECT_EQ(zep[1]["unreachable"], 0);
    std::vector<json> counts;
    for (int k : {0, 1}) {
      json c = zep[k];
      c.erase("unreachable");  // (none: both said hello; and no counts of time)
      counts.push_back(c);
    }
    return counts;
  };
  auto first = once();
  auto second = once();
  auto node0Alone = [](json c) {
    c.erase("received");  // node 1's answers
    c.erase("own_acks");
    return c;
  };
  EXPECT_EQ(node0Alone(first[0]), node0Alone(second[0])) << json(first).dump() << "\n"
                                                         << json(second).dump();
  EXPECT_EQ(first[1]["received"], second[1]["received"]);
  EXPECT_GT(first[0]["lost_on_links"].get<int>(), kEach / 4);
  RecordProperty("timing_events", timing);
  if (timing == 0)
    EXPECT_EQ(first, second) << json(first).dump() << "\n" << json(second).dump();
  else
    std::cerr << timing << " late ACKs or broadcasts dropped in an ACK wait: node 1's answers "
              << "are not compared\n";
}

// A 5 x 5 grid at low load: every node broadcasts, its neighbours answer each broadcast with an
// acknowledged unicast, and the dispatcher acknowledges each answer in time. The nodes wait 2 ms
// for an ACK, not the SubMAC's 864 us: with 25 nodes answering in bursts on a two-core CI
// machine that also runs the suite's Ceph and Docker daemons, one round trip in a few hundred
// through the veths and bridges took longer (softirq work), which a RIOT node there would see
// too. So a frame may go again, but only when its ACK came late ("late-ack" in the node's
// log) or never reached the node in its retries (a node not scheduled for 8 ms, "noack"), and
// rarely: at most one in 5 ACKs, one noack in 50. On this VM, idle, 0 to 29 of about 350 ACKs
// came late (2026-12-02). A dispatcher that left ACKs to the receivers (the frame's 1.6 ms of
// airtime, the receiver's 192 us and the ACK's 352 us) would make nearly every ACK late, and
// every unicast go out four times.
TEST_F(ZepTest, ROOT_AGridOf25AtLowLoadHasNoRetransmissions) {
  constexpr int kNodes = 25, kEach = 4;
  int id = runToEnd(kNodes,
                    fmt::format("-z {{zep}} --eui64 {{eui64}} --index {{index}} --hello --echo "
                                "--send {} --interval 400 --delay 1000 --ack-wait 2000",
                                kEach),
                    {{"topology", "grid"}, {"probability", 1.0}}, kEach);
  ASSERT_NE(id, 0);
  auto zep = zepCounters(id);
  ASSERT_EQ(zep.size(), size_t{kNodes});
  int acks = 0, retransmissions = 0, duplicates = 0, noacks = 0;
  for (int k = 0; k < kNodes; ++k) {
    acks += zep[k]["acks"].get<int>();
    const std::string text = log(id, k);
    int late = 0;
    for (size_t at = text.find(" late-ack "); at != std::string::npos;
         at = text.find(" late-ack ", at + 1))
      ++late;
    auto s = summary(id, k);
    EXPECT_EQ(zep[k]["retransmissions"], s["retx"]) << k << " " << zep[k].dump();
    EXPECT_LE(s["retx"], late + 3 * s["noack"]) << k << text;
    retransmissions += s["retx"];
    noacks += s["noack"];
    for (const auto& [key, n] : unicastsReceived(id, k)) {
      EXPECT_LE(n, 4) << k << " from " << key.first << " " << key.second;  // 3 retries at most
      duplicates += n - 1;
    }
  }
  EXPECT_LE(duplicates, retransmissions);
  EXPECT_LE(noacks * 50, acks) << noacks << " frames went unacknowledged";
  // 40 neighbour pairs, each way: every broadcast that reached a neighbour got one answer.
  EXPECT_GT(acks, 80 * kEach * 9 / 10);
  EXPECT_LE(retransmissions * 5, acks) << "ACKs came late " << retransmissions << " times";
  RecordProperty("late_acks", retransmissions);
  RecordProperty("noacks", noacks);
}

// Devices in groups (isolation: group) share their group's address on the radio network:
// {zep} binds each one's own port, and the dispatcher tells them apart by it.
TEST_F(ZepTest, ROOT_DevicesInGroupsAreToldApartByPort) {
  constexpr int kNodes = 6, kEach = 20;
  int id =
      create({{"count", kNodes},
              {"isolation", "group"},
              {"group_size", 3},
              {"args", fmt::format("-z {{zep}} --eui64 {{eui64}} --send {} --interval 25", kEach)},
              {"zep", {{"topology", "flat"}}}});
  ASSERT_NE(id, 0);
  auto spec = get(fmt::format("/api/v1/runs/{}", id))["spec"];
  EXPECT_EQ(spec["net"], "veth") << spec.dump();
  ASSERT_TRUE(eventually(
      [&] { return get(fmt::format("/api/v1/runs/{}", id))["state"] == "ready"; }, 30000));
  ASSERT_TRUE(api().post(fmt::format("/api/v1/runs/{}/start", id)));
  ASSERT_TRUE(eventually([&] { return allDone(id, kNodes, kEach); }, 30000));
  ::usleep(300'000);
  auto zep = zepCounters(id);
  ASSERT_EQ(zep.size(), size_t{kNodes});
  for (int k = 0; k < kNodes; ++k) {
    // Each device's frames were counted against it, not against its group's first device.
    EXPECT_EQ(zep[k]["sent"], kEach) << k;
    EXPECT_EQ(zep[k]["malformed"], 0) << k;
    expectLoggedAsCounted(id, k, zep[k]);
    auto rx = received(id, k);
    // A flat radio: it heard every other device, of its group and of the other, by its EUI-64.
    EXPECT_EQ(rx.size(), size_t{kNodes - 1}) << k;
    EXPECT_EQ(rx.count(eui64String(eui64({static_cast<RunId>(id), static_cast<uint32_t>(k)}))), 0u)
        << k;
  }
  for (const auto& w : get("/api/v1/workers")) {
    if (w["name"] == config_.name) {
      EXPECT_EQ(w.value("zep_unplaceable_datagrams", 99), 0);
    }
  }
}

TEST_F(ZepTest, BadZepSpecsAreRefused) {
  auto code = [&](json zep, int count = 3) {
    auto r = api().upload("/api/v1/runs", std::string(KUIGA_EXAMPLES) + "/zep-node", "aut",
                          {{"spec", json{{"count", count}, {"zep", zep}}.dump()}});
    return r ? std::make_pair(r->status, r->body.value("message", ""))
             : std::make_pair(0, std::string());
  };
  EXPECT_EQ(code({{"topology", "mesh"}}).first, 400);
  EXPECT_EQ(code({{"topology", "links"}}).second.find("'zep.links' is required"), 0u);
  EXPECT_EQ(code({{"topology", "grid"}, {"radius", 0.1}}).second,
            "'zep.radius' belongs to topology \"random\"");
  EXPECT_EQ(code({{"topology", "grid"}, {"probability", 2}}).first, 400);
  EXPECT_EQ(code({{"bogus", 1}}).second, "unknown field 'zep.bogus'");
  EXPECT_EQ(code({{"acks", "sometimes"}}).second,
            "'zep.acks' must be \"dispatcher\" or \"devices\"");
  // A bad topology file is refused when the run is created, naming the line.
  auto r = code({{"topology", "links"}, {"links", "0 1\n0 7\n"}});
  EXPECT_EQ(r.first, 400) << r.second;
  EXPECT_NE(r.second.find("line 2"), std::string::npos) << r.second;
  // A random topology that would not fit in the dispatcher's memory is refused at create
  // (before, the worker tried to build it: about 20 GB for this one), with a radius that fits.
  auto big = code({{"topology", "random"}, {"radius", 0.5}}, 50000);
  EXPECT_EQ(big.first, 400) << big.second;
  EXPECT_NE(big.second.find("'zep.radius' 0.5 gives 50000 devices about 1"), std::string::npos)
      << big.second;
  auto at = big.second.find("at most ");
  ASSERT_NE(at, std::string::npos) << big.second;
  const double fits = std::stod(big.second.substr(at + 8));
  EXPECT_GT(fits, 0.01);
  EXPECT_LT(fits, 0.1);
  EXPECT_TRUE(ZepSpec::fromJson({{"topology", "random"}, {"radius", fits}})->checkSize(50000));
}

}  // namespace
}  // namespace kuiga::test
