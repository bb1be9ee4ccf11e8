#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "master/store.hpp"
#include "tests/support/leak_check.hpp"

namespace kuiga::master {
namespace {

TEST(Store, KeepsEverythingAcrossReopen) {
  test::TempDir d;
  std::string path = d.path() + "/state.db";
  RunId id;
  {
    auto s = Store::open(path);
    ASSERT_TRUE(s) << s.error().message;
    RunSpec spec;
    spec.count = 3;
    spec.image = "sha256:abc";
    auto r = (*s)->insertRun(spec, "admin", 1);
    ASSERT_TRUE(r);
    id = *r;
    ASSERT_TRUE((*s)->insertInstances(id, {{0, "w1"}, {1, "w1"}, {2, "w2"}}, 1));
    ASSERT_TRUE((*s)->updateInstances(
        {{{id, 1}, "booting", "", 2, {}, {}}, {{id, 2}, "failed", "boom", 3, {}, {}}}));
    ASSERT_TRUE((*s)->setRunState(id, RunState::Dirty, "run-1/dev-0002 failed", 4));
    ASSERT_TRUE((*s)->upsertWorker({"w1", "ipv4:1.2.3.4:5", 100, {{"zone", "a"}}, true, 5}));
    ASSERT_TRUE((*s)->insertImage({"sha256:abc", "aut", "linux", {{"x", 1}}, 6}));
    auto again = (*s)->insertImage({"sha256:abc", "aut", "linux", {{"x", 1}}, 7});
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again);  // stored once
  }
  auto s = Store::open(path);
  ASSERT_TRUE(s);
  auto run = (*s)->run(id);
  ASSERT_TRUE(run && *run);
  EXPECT_EQ((*run)->state, RunState::Dirty);
  EXPECT_EQ((*run)->reason, "run-1/dev-0002 failed");
  EXPECT_EQ((*run)->spec.count, 3u);
  auto counts = (*s)->countByState(id);
  ASSERT_TRUE(counts);
  EXPECT_EQ((*counts)["pending"], 1u);
  EXPECT_EQ((*counts)["booting"], 1u);
  EXPECT_EQ((*counts)["failed"], 1u);
  auto hist = (*s)->history({id, 2});
  ASSERT_TRUE(hist);
  ASSERT_EQ(hist->size(), 2u);
  EXPECT_EQ((*hist)[1].state, "failed");
  EXPECT_EQ((*hist)[1].worker, "w2");
  auto failed = (*s)->instances(id, "failed");
  ASSERT_TRUE(failed);
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ(failed->front().reason, "boom");
  auto ws = (*s)->workers();
  ASSERT_TRUE(ws);
  ASSERT_EQ(ws->size(), 1u);
  EXPECT_EQ(ws->front().labels["zone"], "a");
  auto load = (*s)->loadPerWorker();
  ASSERT_TRUE(load);
  EXPECT_EQ((*load)["w1"], 2u);
}

TEST(Store, AReportFromAWorkerNoLongerHoldingTheInstanceIsIgnored) {
  test::TempDir d;
  auto s = Store::open(d.path() + "/state.db");
  ASSERT_TRUE(s);
  RunSpec spec;
  spec.count = 1;
  auto id = *(*s)->insertRun(spec, "admin", 1);
  ASSERT_TRUE((*s)->insertInstances(id, {{0, "old"}}, 1));
  ASSERT_TRUE((*s)->updateInstances({{{id, 0}, "pending", "rescheduled", 2, "new", {}}}));
  ASSERT_TRUE((*s)->updateInstances({{{id, 0}, "running", "", 3, {}, "old"}}));
  auto r = (*s)->instance({id, 0});
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->worker, "new");
  EXPECT_EQ((*r)->state, "pending");
}

TEST(Store, CountsFollowEveryChange) {
  test::TempDir d;
  auto s = Store::open(d.path() + "/state.db");
  ASSERT_TRUE(s);
  RunSpec spec;
  spec.count = 50;
  auto id = *(*s)->insertRun(spec, "admin", 1);
  std::vector<std::pair<uint32_t, std::string>> placed;
  for (uint32_t i = 0; i < 50; ++i) placed.emplace_back(i, i % 2 ? "a" : "b");
  ASSERT_TRUE((*s)->insertInstances(id, placed, 1));
  const char* states[] = {"prolog", "booting", "running", "failed", "running", "lost"};
  std::vector<InstanceUpdate> ups;
  for (uint32_t i = 0; i < 50; ++i)
    for (uint32_t k = 0; k <= i % 6; ++k) ups.push_back({{id, i}, states[k], "", 2, {}, {}});
  ASSERT_TRUE((*s)->updateInstances(ups));
  // An update from a worker that does not hold the instance changes no count.
  ASSERT_TRUE((*s)->updateInstances({{{id, 0}, "running", "", 3, {}, "a"}}));
  std::map<std::string, uint64_t> expected;
  auto all = (*s)->instances(id);
  ASSERT_TRUE(all);
  for (const auto& r : *all) ++expected[r.state];
  EXPECT_EQ(*(*s)->countByState(id), expected);
  EXPECT_EQ(expected["prolog"], 9u);
}

TEST(Store, ARunsHistoryHoldsItsStatesAndCellMovesInOrder) {
  test::TempDir d;
  std::string path = d.path() + "/state.db";
  RunId id, other;
  {
    auto s = Store::open(path);
    ASSERT_TRUE(s);
    RunSpec spec;
    spec.count = 2;
    id = *(*s)->insertRun(spec, "admin", 10);
    other = *(*s)->insertRun(spec, "admin", 11);
    ASSERT_TRUE((*s)->setRunCell(id, "w1", 0, "cell on w1", 12));
    ASSERT_TRUE((*s)->setRunState(id, RunState::Ready, "", 13));
    ASSERT_TRUE((*s)->setRunState(other, RunState::Dirty, "other's reason", 14));
    // A cell record without an event (a plexer confirming what the master knew) adds none.
    ASSERT_TRUE((*s)->setRunCell(id, "w1", 0, "", 15));
    ASSERT_TRUE((*s)->setRunCell(id, "w2", 1, "cell moved from w1 (lost) to w2 (move 1)", 16));
    ASSERT_TRUE((*s)->setRunState(id, RunState::Dirty, "worker w3 lost", 17));
  }
  auto s = Store::open(path);  // and it is all there after a reopen
  ASSERT_TRUE(s);
  auto h = (*s)->runHistory(id);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_EQ(h->size(), 5u);
  std::vector<std::string> lines;
  for (const auto& e : *h)
    lines.push_back(e.kind + "|" + e.state + "|" + e.host + "|" + e.detail + "|" +
                    std::to_string(e.timeNs));
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "state|pending||created|10",
                       "cell||w1|cell on w1|12",
                       "state|ready|||13",
                       "cell||w2|cell moved from w1 (lost) to w2 (move 1)|16",
                       "state|dirty||worker w3 lost|17",
                   }));
  auto cells = (*s)->runCells();
  ASSERT_TRUE(cells);
  EXPECT_EQ((*cells)[id], std::make_pair(std::string("w2"), 1u));
  ASSERT_EQ((*s)->runHistory(other)->size(), 2u);
  // A deleted run's history goes with it; the other run's stays.
  ASSERT_TRUE((*s)->deleteRun(id));
  EXPECT_TRUE((*s)->runHistory(id)->empty());
  EXPECT_EQ((*s)->runHistory(other)->size(), 2u);
}

// A state database from before run histories: its runs open with an empty history, and what
// happens to them from then on is recorded.
TEST(Store, ADatabaseFromBeforeRunHistoriesGainsOne) {
  test::TempDir d;
  std::string path = d.path() + "/state.db";
  RunId id;
  {
    auto s = Store::open(path);
    ASSERT_TRUE(s);
    id = *(*s)->insertRun(RunSpec{}, "admin", 1);
  }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("DROP INDEX run_events_run; DROP TABLE run_events");
  }
  auto s = Store::open(path);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE((*s)->runHistory(id)->empty());
  ASSERT_TRUE((*s)->setRunState(id, RunState::Dirty, "the image is gone", 2));
  auto h = (*s)->runHistory(id);
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ(h->front().state, "dirty");
  EXPECT_EQ(h->front().detail, "the image is gone");
}

}  // namespace
}  // namespace kuiga::master
