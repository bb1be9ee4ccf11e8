// pcapng files read back by the real Wireshark (tshark): interface names, lengths, nanosecond
// timestamps, directions and rotation.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "plexer/capture/pcapng_filter.hpp"
#include "plexer/capture/pcapng_writer.hpp"
#include "tests/support/leak_check.hpp"
#include "tests/support/shell.hpp"

namespace kuiga::plexer {
namespace {

using test::commandOutput;

std::vector<uint8_t> frame(uint8_t tag, size_t len) {
  std::vector<uint8_t> f(len, tag);
  for (int i = 0; i < 6; ++i) f[i] = 0xff;                               // broadcast destination
  f[6] = 0x02, f[7] = 0x6b, f[8] = 0, f[9] = 0, f[10] = 0, f[11] = tag;  // source
  f[12] = 0x88, f[13] = 0xb5;  // local experimental ethertype
  return f;
}

TEST(Pcapng, TsharkReadsInterfacesLengthsTimesAndDirections) {
  test::TempDir d;
  auto w = PcapngWriter::open(d.path() + "/cap");
  ASSERT_TRUE(w) << w.error().message;
  auto a = w->addInterface("run-7/dev-0000");
  auto b = w->addInterface("run-7/dev-0001");
  ASSERT_TRUE(a && b);
  const int64_t t0 = 1795830000123456789;
  ASSERT_TRUE(w->write(*a, t0, frame(1, 60), 60, Direction::Sent));
  ASSERT_TRUE(w->write(*b, t0 + 1, frame(1, 60), 60, Direction::Received));
  ASSERT_TRUE(w->write(*b, t0 + 1000, frame(2, 61), 61, Direction::Sent));  // needs padding
  ASSERT_TRUE(w->write(*a, t0 + 2000, frame(3, 1514), 1514, Direction::Received));
  ASSERT_TRUE(w->flush());
  std::string out = commandOutput(fmt::format(
      "tshark -r {}/cap.pcapng -T fields -E separator=, -e frame.interface_name -e frame.len "
      "-e frame.time_epoch -e frame.p2p_dir -e eth.src",
      d.path()));
  ASSERT_FALSE(out.empty()) << "tshark could not read the file";
  EXPECT_EQ(out,
            "run-7/dev-0000,60,1795830000.123456789,0,02:6b:00:00:00:01\n"
            "run-7/dev-0001,60,1795830000.123456790,1,02:6b:00:00:00:01\n"
            "run-7/dev-0001,61,1795830000.123457789,0,02:6b:00:00:00:02\n"
            "run-7/dev-0000,1514,1795830000.123458789,1,02:6b:00:00:00:03\n");
}

TEST(Pcapng, RotatedFilesEachOpenOnTheirOwn) {
  test::TempDir d;
  auto w = PcapngWriter::open(d.path() + "/cap", 4096);
  ASSERT_TRUE(w);
  auto a = w->addInterface("run-1/dev-0000");
  ASSERT_TRUE(a);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(w->write(*a, i, frame(9, 1000), 1000, Direction::Sent));
  auto b = w->addInterface("run-1/dev-0001");  // added after rotations began
  ASSERT_TRUE(b);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(w->write(*b, i, frame(8, 100), 100, Direction::Sent));
  ASSERT_TRUE(w->flush());
  ASSERT_GE(w->files().size(), 4u);
  size_t total = 0;
  for (const auto& f : w->files()) {
    std::string out = commandOutput("tshark -r " + f + " -T fields -e frame.interface_name");
    ASSERT_FALSE(out.empty()) << f;
    total += std::count(out.begin(), out.end(), '\n');
  }
  EXPECT_EQ(total, 25u);
  std::string last =
      commandOutput("tshark -r " + w->files().back() + " -T fields -e frame.interface_name");
  EXPECT_NE(last.find("run-1/dev-0001"), std::string::npos) << last;
}

TEST(Pcapng, OneDeviceIsCutOutOfEverySection) {
  test::TempDir d;
  auto w = PcapngWriter::open(d.path() + "/cap", 2048);
  ASSERT_TRUE(w);
  auto a = w->addInterface("run-2/dev-0000");
  auto b = w->addInterface("run-2/dev-0001");
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(w->write(*a, i, frame(1, 300), 300, Direction::Sent));
    ASSERT_TRUE(w->write(*b, i, frame(2, 200), 200, Direction::Received));
  }
  ASSERT_TRUE(w->flush());
  ASSERT_GE(w->files().size(), 2u);
  std::string all;
  for (const auto& f : w->files()) {
    std::ifstream in(f, std::ios::binary);
    all += std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  all += all.substr(0, 100);  // a block cut short at the end, as in a capture being written
  auto cut = filterInterface(all, "run-2/dev-0001");
  ASSERT_TRUE(cut) << cut.error().message;
  std::ofstream(d.path() + "/one.pcapng", std::ios::binary) << *cut;
  std::string out = commandOutput("tshark -r " + d.path() +
                                  "/one.pcapng -T fields -e frame.interface_name -e frame.len");
  std::string expected;
  for (int i = 0; i < 10; ++i) expected += "run-2/dev-0001\t200\n";
  EXPECT_EQ(out, expected);
  EXPECT_FALSE(filterInterface(all, "run-2/dev-0009"));
}

}  // namespace
}  // namespace kuiga::plexer
