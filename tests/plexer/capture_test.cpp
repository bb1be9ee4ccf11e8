// The capture ring against real traffic: two devices in network namespaces of the test's own,
// their ports on a bridge in a third namespace (a small radio network), UDP between them.
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "plexer/capture/capture.hpp"
#include "sys/netns.hpp"
#include "tests/support/leak_check.hpp"
#include "tests/support/shell.hpp"

namespace kuiga::plexer {
namespace {

int sh(const std::string& cmd) {
  return std::system(cmd.c_str());
}

using test::commandOutput;

class CaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root (namespaces, veth, AF_PACKET)";
    }
    p_ = test::uniqueName();
    radio_ = p_ + "r";
    for (int k = 0; k < 2; ++k) devs_.push_back(fmt::format("{}d{}", p_, k));
    std::string cmd = fmt::format(
        "ip netns add {0} && ip -n {0} link add br0 type bridge && "
        "ip -n {0} link set br0 up",
        radio_);
    for (int k = 0; k < 2; ++k)
      cmd += fmt::format(
          " && ip netns add {1} && ip -n {0} link add kv{2} type veth peer name eth0 netns {1} "
          "&& ip -n {0} link set kv{2} master br0 up && ip -n {1} addr add 10.99.0.{3}/24 dev "
          "eth0 && ip -n {1} link set eth0 up && ip -n {1} link set lo up",
          radio_, devs_[k], k, k + 1);
    ASSERT_EQ(sh(cmd), 0);
  }
  void TearDown() override {
    sh(fmt::format("ip netns del {} 2>/dev/null", radio_));
    for (const auto& d : devs_) sh(fmt::format("ip netns del {} 2>/dev/null", d));
  }
  int ifindex(const std::string& name) {
    auto out = commandOutput(fmt::format("ip -n {} -o link show {}", radio_, name));
    return std::atoi(out.c_str());
  }
  // Sends `n` UDP datagrams of `len` bytes from device 0 to device 1's port 9999.
  void sendUdp(int n, size_t len) {
    auto ns = sys::netns::openPinned("/run/netns/" + devs_[0]);
    ASSERT_TRUE(ns);
    auto guard = sys::netns::ThreadGuard::enter(ns->get());
    ASSERT_TRUE(guard);
    int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9999);
    inet_pton(AF_INET, "10.99.0.2", &to.sin_addr);
    std::string payload(len, 'k');
    for (int i = 0; i < n; ++i)
      ::sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    ::close(s);
  }

  std::string p_, radio_;
  std::vector<std::string> devs_;
  test::TempDir dir_;
};

TEST_F(CaptureTest, ROOT_EveryFrameIsAttributedToItsDevicesAndReadableByTshark) {
  auto ns = sys::netns::openPinned("/run/netns/" + radio_);
  ASSERT_TRUE(ns);
  auto cap = Capture::open(ns->get(), [&](const std::string& group) {
    return PcapngWriter::open(dir_.path() + "/" + group);
  });
  ASSERT_TRUE(cap) << cap.error().message;
  ASSERT_TRUE((*cap)->addDevice(ifindex("kv0"), "run-1", "run-1/dev-0000"));
  ASSERT_TRUE((*cap)->addDevice(ifindex("kv1"), "run-1", "run-1/dev-0001"));
  std::jthread reader([&](std::stop_token st) { (*cap)->run(st); });

  constexpr int kFrames = 500;
  sendUdp(kFrames, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  reader.request_stop();
  reader.join();
  ASSERT_TRUE((*cap)->flush());
  auto files = (*cap)->snapshot("run-1");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_GT(files[0].second, uint64_t{kFrames} * 2 * 242);

  auto st = (*cap)->stats();
  EXPECT_EQ(st.ringDrops, 0u);
  // Device 0 sent the datagrams (plus ARP); device 1 had them delivered (plus ARP).
  EXPECT_GE(st.devices["run-1/dev-0000"].sentFrames, uint64_t{kFrames});
  EXPECT_GE(st.devices["run-1/dev-0001"].deliveredFrames, uint64_t{kFrames});
  EXPECT_GT(st.otherFrames, 0u);  // the bridge's own view of the same frames is not counted

  // tshark sees the same: the UDP frames once on each device's interface.
  std::string out = commandOutput(
      fmt::format("tshark -r {}/run-1.pcapng -Y 'udp.dstport==9999 && !icmp' -T fields -e "
                  "frame.interface_name -e frame.len",
                  dir_.path()));
  size_t on0 = 0, on1 = 0;
  for (size_t pos = 0; (pos = out.find("run-1/dev-000", pos)) != std::string::npos; ++pos)
    (out[pos + 13] == '0' ? on0 : on1)++;
  EXPECT_EQ(on0, size_t{kFrames}) << out.substr(0, 300);
  EXPECT_EQ(on1, size_t{kFrames});
  EXPECT_NE(out.find("\t242\n"), std::string::npos);  // 200 bytes + UDP, IP, Ethernet headers
}

}  // namespace
}  // namespace kuiga::plexer
