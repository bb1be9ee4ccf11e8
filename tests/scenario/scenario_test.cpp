// Scenario files: what a valid one reads as, every error naming its place, each assertion kind
// passing and failing against measured values, and the results as JSON and JUnit.
#include <tinyxml2.h>

#include <gtest/gtest.h>

#include "scenario/scenario.hpp"

namespace kuiga::scenario {
namespace {

using json = nlohmann::json;

const char* kFull = R"(name: smoke
app: bin/periodic
run:
  count: 4
  args: "{start_ms} {period_ms}"
  period_ms: 100
  radio: {uplink: bs, ues: 2}
duration: 3s
timeline:
  - at: 2s
    console: second
    devices: [1, 2]
  - at: 500ms
    console: first
  - {at: 2.5s, stop: [3], grace: 250ms}
  - {at: 2.75s, start: all}
  - {at: 0s, server: "coap-server -A 192.0.2.1"}
assert:
  - logs: wake(up)?
    within: 1.5s
  - logs: ready
    devices: 75%
  - log_count: ping
    per: device
    at_least: 2
  - no_failed: true
  - jitter_p99_ms: 5
  - delivery_ratio: {at_least: 0.9}
  - zep_delivery: 0.5
  - missed_frames: 0
  - leases_max: {at_most: 2}
)";

// The message of a scenario that does not parse.
std::string errorOf(const std::string& text, const std::vector<std::string>& sets = {}) {
  auto s = parse(text, "t.yaml", sets);
  EXPECT_FALSE(s) << "parsed: " << text;
  return s ? std::string() : s.error().message;
}

TEST(ScenarioParse, AFullScenarioReadsAsWritten) {
  auto s = parse(kFull, "/repo/tests/smoke.yaml");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->name, "smoke");
  EXPECT_EQ(s->app, "/repo/tests/bin/periodic");  // relative to the file
  EXPECT_EQ(s->spec, json::parse(R"({"count": 4, "args": "{start_ms} {period_ms}",
      "period_ms": 100, "radio": {"uplink": "bs", "ues": 2}})"));
  EXPECT_DOUBLE_EQ(s->durationSeconds, 3);
  ASSERT_EQ(s->timeline.size(), 5u);                     // in time order
  EXPECT_EQ(s->timeline[0].kind, Action::Kind::Server);  // in the base station's namespace
  EXPECT_EQ(s->timeline[0].command, "coap-server -A 192.0.2.1");
  EXPECT_EQ(s->timeline[0].netns, "bs");
  EXPECT_EQ(s->timeline[0].text(), "server \"coap-server -A 192.0.2.1\" in bs");
  EXPECT_EQ(s->timeline[1].console, "first");
  EXPECT_TRUE(s->timeline[1].devices.all);
  EXPECT_EQ(s->timeline[1].text(), "console \"first\" to every device");
  EXPECT_DOUBLE_EQ(s->timeline[2].atSeconds, 2);
  EXPECT_EQ(s->timeline[2].devices.indexes, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(s->timeline[2].place.line, 10);
  EXPECT_EQ(s->timeline[3].kind, Action::Kind::Stop);
  EXPECT_DOUBLE_EQ(s->timeline[3].graceSeconds, 0.25);
  EXPECT_EQ(s->timeline[3].text(), "stop device 3");
  EXPECT_EQ(s->timeline[4].kind, Action::Kind::Start);
  EXPECT_TRUE(s->timeline[4].devices.all);
  ASSERT_EQ(s->assertions.size(), 9u);
  EXPECT_EQ(s->assertions[0].title, "every device logs /wake(up)?/ within 1.5 s");
  EXPECT_EQ(s->assertions[1].title, "at least 75% of devices logs /ready/");
  EXPECT_DOUBLE_EQ(s->assertions[1].share, 0.75);
  EXPECT_TRUE(s->assertions[2].perDevice);
  EXPECT_EQ(s->assertions[2].bound.op, Op::AtLeast);
  EXPECT_EQ(s->assertions[4].title, "jitter_p99_ms <= 5");  // a number: its usual sense
  EXPECT_EQ(s->assertions[6].title, "zep_delivery >= 0.5");
  EXPECT_EQ(s->assertions[8].title, "leases_max <= 2");
  EXPECT_EQ(s->assertions[8].place.line, 31);
}

TEST(ScenarioParse, SetsOverrideFieldsBeforeTheyAreRead) {
  auto s = parse(kFull, "t.yaml", {"run.count=50", "duration=1m", "run.limits.memory_mb=64"});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->spec["count"], 50);
  EXPECT_EQ(s->spec["limits"]["memory_mb"], 64);
  EXPECT_DOUBLE_EQ(s->durationSeconds, 60);
  // An entry of a list, by its number.
  auto entry = parse(kFull, "t.yaml", {"timeline.4.server=other -v 9", "timeline.0.at=0.25s"});
  ASSERT_TRUE(entry) << entry.error().message;
  EXPECT_EQ(entry->timeline[0].command, "other -v 9");
  EXPECT_DOUBLE_EQ(entry->timeline[1].atSeconds, 0.25);  // "second", now before "first"
  EXPECT_EQ(entry->timeline[1].console, "second");
  EXPECT_NE(errorOf(kFull, {"timeline.5.at=1s"}).find("'5' is not an entry of a list of 5"),
            std::string::npos);
  EXPECT_NE(errorOf(kFull, {"run.count"}).find("not KEY=VALUE"), std::string::npos);
  EXPECT_NE(errorOf(kFull, {"run.count=0"}).find("run.count is a whole number from 1 to 50000"),
            std::string::npos);
}

TEST(ScenarioParse, EveryErrorNamesItsPlace) {
  // A syntax error: the line and column where YAML broke.
  EXPECT_EQ(errorOf("app: x\nrun: {count: 1\nassert: []\n").rfind("t.yaml:3:", 0), 0u)
      << errorOf("app: x\nrun: {count: 1\nassert: []\n");
  // An unknown key, where it stands, with the known ones.
  std::string unknown =
      errorOf("app: x\nrun:\n  count: 1\n  cuont: 2\nassert: [{no_failed: true}]\n");
  EXPECT_NE(unknown.find("t.yaml:4:3: unknown key 'cuont' in run (known: args, count,"),
            std::string::npos)
      << unknown;
  // A bad regular expression.
  std::string regex = errorOf("app: x\nrun: {count: 1}\nassert:\n  - logs: \"(unclosed\"\n");
  EXPECT_NE(regex.find("t.yaml:4:11: logs /(unclosed/ is not a regular expression"),
            std::string::npos)
      << regex;
  // An impossible count.
  std::string count = errorOf("app: x\nrun: {count: 50001}\nassert: [{no_failed: true}]\n");
  EXPECT_NE(count.find("t.yaml:2:14: run.count is a whole number from 1 to 50000"),
            std::string::npos)
      << count;
  EXPECT_NE(errorOf("app: x\nrun: {count: 2.5}\nassert: [{no_failed: true}]\n").find("t.yaml:2:14"),
            std::string::npos);
  // No AUT, or two; no assertions; an action after the end; an unknown assertion.
  EXPECT_NE(errorOf("run: {count: 1}\nassert: [{no_failed: true}]\n").find("names its AUT"),
            std::string::npos);
  EXPECT_NE(errorOf("app: x\nimage: sha256:00\nrun: {count: 1}\nassert: [{no_failed: true}]\n")
                .find("names its AUT"),
            std::string::npos);
  EXPECT_NE(errorOf("app: x\nrun: {count: 1}\n").find("needs assert"), std::string::npos);
  std::string late = errorOf(
      "app: x\nrun: {count: 1}\nduration: 2s\ntimeline:\n  - {at: 3s, console: hi}\n"
      "assert: [{no_failed: true}]\n");
  EXPECT_NE(late.find("t.yaml:5:5: an action at 3 s is after the end (2 s)"), std::string::npos)
      << late;
  std::string beyond = errorOf(
      "app: x\nrun: {count: 2}\ntimeline:\n  - {at: 1s, console: hi, devices: [0, 2]}\n"
      "assert: [{no_failed: true}]\n");
  EXPECT_NE(beyond.find("t.yaml:4:5: device 2 is not in a run of 2 (0 to 1)"), std::string::npos)
      << beyond;
  // Churn and servers: one thing per action, each with what it needs.
  const std::string head = "app: x\nrun: {count: 2}\ntimeline:\n";
  const std::string tail = "assert: [{no_failed: true}]\n";
  EXPECT_NE(errorOf(head + "  - {at: 1s, stop: [0], start: [1]}\n" + tail)
                .find("t.yaml:4:5: an action does one thing: console, stop, start or server"),
            std::string::npos);
  EXPECT_NE(errorOf(head + "  - {at: 1s, stop: [0], devices: [1]}\n" + tail)
                .find("t.yaml:4:34: devices goes with console"),
            std::string::npos);
  EXPECT_NE(errorOf(head + "  - {at: 1s, start: all, grace: 1s}\n" + tail)
                .find("t.yaml:4:33: grace goes with stop"),
            std::string::npos);
  EXPECT_NE(errorOf(head + "  - {at: 1s, stop: [3]}\n" + tail)
                .find("t.yaml:4:5: device 3 is not in a run of 2"),
            std::string::npos);
  EXPECT_NE(errorOf(head + "  - {at: 1s, stop: some}\n" + tail)
                .find("t.yaml:4:20: devices is 'all' or a list"),
            std::string::npos);
  std::string server = errorOf(head + "  - {at: 0s, server: coap-server}\n" + tail);
  EXPECT_NE(server.find("t.yaml:4:5: a server runs in the base station's network namespace: the "
                        "run needs radio.uplink"),
            std::string::npos)
      << server;
  std::string what = errorOf("app: x\nrun: {count: 1}\nassert:\n  - jitter_p50_ms: 3\n");
  EXPECT_NE(what.find("t.yaml:4:5: unknown assertion 'jitter_p50_ms'"), std::string::npos) << what;
  EXPECT_NE(errorOf("app: x\nrun: {count: 1}\nduration: soon\nassert: [{no_failed: true}]\n")
                .find("t.yaml:3:11: duration is a duration"),
            std::string::npos);
  EXPECT_NE(errorOf("app: x\nrun: {count: 1}\nassert:\n  - logs: x\n    devices: most\n")
                .find("t.yaml:5:14: devices is 'every' or a share"),
            std::string::npos);
  EXPECT_NE(errorOf("app: x\nrun: {count: 1}\nassert:\n  - no_failed: false\n").find("t.yaml:4:16"),
            std::string::npos);
}

// Four devices: 0 to 2 log "ready" and "ping" twice early; 3 logs nothing and failed.
Measured fourDevices() {
  Measured m;
  m.count = 4;
  for (uint32_t i = 0; i < 3; ++i) {
    m.states[i] = "running";
    m.logs[i] = {{0.2, "ready"}, {0.5, "ping"}, {0.9, "ping"}};
  }
  m.states[3] = "failed";
  m.reasons[3] = "exited with status 3";
  m.jitter = {{"run", {{"samples", 40}, {"p99", 2.5}}}};
  m.radio = {{"to_station_frames", 100},
             {"uplink_frames", 95},
             {"missed_frames", 0},
             {"cells", json::array({{{"max_leases", 2}}})},
             {"zep", {{"received", 60}, {"lost_on_links", 30}, {"dropped_channel", 10}}}};
  return m;
}

Verdict verdictOf(const std::string& assertion, const Measured& m, Outcome* out = nullptr) {
  auto s = parse("app: x\nrun: {count: 4}\nassert:\n  - " + assertion + "\n", "t.yaml");
  EXPECT_TRUE(s) << s.error().message;
  if (!s) return Verdict::Error;
  auto o = evaluate(*s, m);
  EXPECT_EQ(o.size(), 1u);
  if (out) {
    *out = o[0];
    out->assertion = nullptr;  // (points into s, gone)
  }
  return o[0].verdict;
}

TEST(ScenarioAssertions, EachKindPassesAndFails) {
  Measured m = fourDevices();
  Outcome o;
  EXPECT_EQ(verdictOf("{logs: ready, devices: '75%'}", m), Verdict::Passed);
  EXPECT_EQ(verdictOf("{logs: ready}", m, &o), Verdict::Failed);
  EXPECT_EQ(o.measured, "3 of 4 devices");
  ASSERT_EQ(o.evidence.size(), 1u);
  EXPECT_NE(o.evidence.at(3).find("no matching line"), std::string::npos);
  EXPECT_EQ(verdictOf("{logs: ping, within: 0.6s, devices: '75%'}", m), Verdict::Passed);
  EXPECT_EQ(verdictOf("{logs: ping, within: 0.4s, devices: '1%'}", m), Verdict::Failed);
  EXPECT_EQ(verdictOf("{logs: ping, after: 0.6s, within: 1s, devices: '75%'}", m, &o),
            Verdict::Passed);
  EXPECT_EQ(verdictOf("{logs: ready, after: 0.3s, devices: '1%'}", m), Verdict::Failed);

  EXPECT_EQ(verdictOf("{log_count: ping, at_least: 6}", m), Verdict::Passed);
  EXPECT_EQ(verdictOf("{log_count: ping, equal: 7}", m, &o), Verdict::Failed);
  EXPECT_EQ(o.measured, "6 lines");
  EXPECT_EQ(verdictOf("{log_count: ping, per: device, at_least: 2}", m, &o), Verdict::Failed);
  EXPECT_EQ(o.measured, "3 of 4 devices within the bound");
  EXPECT_EQ(verdictOf("{log_count: ping, per: device, at_most: 2}", m), Verdict::Passed);

  EXPECT_EQ(verdictOf("{no_failed: true}", m, &o), Verdict::Failed);
  EXPECT_NE(o.evidence.at(3).find("exited with status 3"), std::string::npos);
  m.states[3] = "running";
  EXPECT_EQ(verdictOf("{no_failed: true}", m), Verdict::Passed);

  EXPECT_EQ(verdictOf("{jitter_p99_ms: 3}", m), Verdict::Passed);
  EXPECT_EQ(verdictOf("{jitter_p99_ms: 2}", m, &o), Verdict::Failed);
  EXPECT_EQ(o.measured, "2.5");
  EXPECT_EQ(verdictOf("{delivery_ratio: 0.95}", m), Verdict::Passed);
  EXPECT_EQ(verdictOf("{delivery_ratio: 0.96}", m), Verdict::Failed);
  // What the kernel dropped before the Plexer read it was sent toward the station too.
  Measured dropped = m;
  dropped.radio["gateway_drops"] = 90;
  Outcome viaGateway;
  EXPECT_EQ(verdictOf("{delivery_ratio: 0.5}", dropped, &viaGateway), Verdict::Passed);
  EXPECT_DOUBLE_EQ(viaGateway.value, 0.5);  // 95 / (100 + 90)
  EXPECT_EQ(verdictOf("{delivery_ratio: 0.51}", dropped), Verdict::Failed);
  EXPECT_EQ(verdictOf("{zep_delivery: 0.6}", m), Verdict::Passed);
  EXPECT_EQ(verdictOf("{zep_delivery: {at_least: 0.61}}", m), Verdict::Failed);
  EXPECT_EQ(verdictOf("{missed_frames: 0}", m), Verdict::Passed);
  m.radio["missed_frames"] = 1;
  EXPECT_EQ(verdictOf("{missed_frames: 0}", m), Verdict::Failed);
  EXPECT_EQ(verdictOf("{leases_max: 2}", m), Verdict::Passed);
  EXPECT_EQ(verdictOf("{leases_max: 1}", m), Verdict::Failed);

  // What was not measured fails, and says why.
  Measured none;
  none.count = 4;
  EXPECT_EQ(verdictOf("{jitter_p99_ms: 3}", none, &o), Verdict::Failed);
  EXPECT_NE(o.measured.find("no jitter samples"), std::string::npos);
  EXPECT_EQ(verdictOf("{zep_delivery: 0.1}", none, &o), Verdict::Failed);
  EXPECT_NE(o.measured.find("no ZEP radio"), std::string::npos);
  EXPECT_EQ(verdictOf("{leases_max: 9}", none, &o), Verdict::Failed);
}

TEST(ScenarioReport, ResultsAndJUnitSayTheVerdicts) {
  auto s = parse(
      "name: r<&>\napp: x\nrun: {count: 4}\nassert:\n  - logs: ready\n"
      "  - no_failed: true\n",
      "t.yaml");
  ASSERT_TRUE(s);
  Report r;
  r.scenario = &*s;
  r.run = 7;
  r.outcomes = evaluate(*s, fourDevices());
  EXPECT_EQ(r.verdict(), Verdict::Failed);
  json j = resultsJson(r);
  EXPECT_EQ(j["verdict"], "failed");
  EXPECT_EQ(j["assertions"][0]["at"], "t.yaml:5:5");
  EXPECT_EQ(j["assertions"][0]["failed_devices"][0]["index"], 3);
  tinyxml2::XMLDocument doc;
  ASSERT_EQ(doc.Parse(junitXml(r).c_str()), tinyxml2::XML_SUCCESS);
  auto* suite = doc.FirstChildElement("testsuites")->FirstChildElement("testsuite");
  EXPECT_STREQ(suite->Attribute("name"), "r<&>");
  EXPECT_EQ(suite->IntAttribute("tests"), 2);
  EXPECT_EQ(suite->IntAttribute("failures"), 2);
  EXPECT_EQ(suite->IntAttribute("errors"), 0);
  // What an AUT printed cannot end the report's script element, whatever its case.
  r.tails[3] = "</SCRIPT><script>alert(1)</script><!--";
  std::string html = reportHtml({r}, false);
  EXPECT_EQ(html.find("</SCRIPT>"), std::string::npos);
  EXPECT_EQ(html.find("alert(1)</script>"), std::string::npos);
  EXPECT_NE(html.find("\\u003c/SCRIPT>\\u003cscript>alert(1)"), std::string::npos);
  // A test that could not run to its end is an error, not a failure.
  r.outcomes.clear();
  r.error = "worker lost";
  EXPECT_EQ(r.verdict(), Verdict::Error);
  ASSERT_EQ(doc.Parse(junitXml(r).c_str()), tinyxml2::XML_SUCCESS);
  suite = doc.FirstChildElement("testsuites")->FirstChildElement("testsuite");
  EXPECT_EQ(suite->IntAttribute("errors"), 1);
  EXPECT_STREQ(
      suite->FirstChildElement("testcase")->FirstChildElement("error")->Attribute("message"),
      "worker lost");
}

TEST(ScenarioParse, GroupIsolationIsARunField) {
  auto s = parse(
      "app: x\nrun: {count: 2000, net: none, isolation: group, group_size: 500}\n"
      "assert: [{no_failed: true}]\n",
      "t.yaml");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->spec["isolation"], "group");
  EXPECT_EQ(s->spec["group_size"], 500);
  auto points = parsePoints(
      "app: x\nrun: {count: 2000, net: none, isolation: group}\n"
      "sweep: {group_size: [100, 1000]}\nassert: [{no_failed: true}]\n",
      "t.yaml");
  ASSERT_TRUE(points) << points.error().message;
  EXPECT_EQ((*points)[0].sweep.field, "run.group_size");
  EXPECT_EQ((*points)[1].spec["group_size"], 1000);
}

TEST(ScenarioSweep, APointPerValueEachCheckedAndTabled) {
  const std::string text =
      "name: sw\napp: x\nrun: {count: 1, args: '{start_ms}'}\nduration: 2s\n"
      "sweep: {count: [1, 20, 300]}\nassert:\n  - no_failed: true\n  - jitter_p99_ms: 5\n";
  auto points = parsePoints(text, "t.yaml");
  ASSERT_TRUE(points) << points.error().message;
  ASSERT_EQ(points->size(), 3u);
  EXPECT_EQ((*points)[1].spec["count"], 20);
  EXPECT_EQ((*points)[1].spec["args"], "{start_ms}");
  EXPECT_EQ((*points)[2].point, "run.count=300");
  EXPECT_EQ((*points)[0].sweep.field, "run.count");
  // Any field by its path, strings kept as strings.
  auto args = parsePoints(
      "app: x\nrun: {count: 1}\nsweep: {run.args: ['{start_ms} 1', '2']}\n"
      "assert: [{no_failed: true}]\n",
      "t.yaml");
  ASSERT_TRUE(args) << args.error().message;
  EXPECT_EQ((*args)[0].spec["args"], "{start_ms} 1");
  // A value that makes the scenario wrong names the point and the place.
  auto zero = parsePoints(
      "app: x\nrun: {count: 1}\nsweep: {count: [2, 0]}\n"
      "assert: [{no_failed: true}]\n",
      "t.yaml");
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("at run.count=0: t.yaml"), std::string::npos)
      << zero.error().message;
  EXPECT_NE(errorOf("app: x\nrun: {count: 1}\nsweep: {count: [], profile: [a]}\n"
                    "assert: [{no_failed: true}]\n")
                .find("t.yaml:3:8: a sweep is one field"),
            std::string::npos);

  // The table: a row per point, each assertion's value as a number.
  std::vector<Report> reports;
  for (const auto& p : *points) {
    Report r;
    r.scenario = &p;
    Measured m = fourDevices();
    m.jitter["run"]["p99"] = 2.0 * p.spec["count"].get<double>();
    r.outcomes = evaluate(p, m);
    reports.push_back(r);
  }
  EXPECT_EQ(sweepCsv(reports),
            "\"run.count\",\"verdict\",\"no instance failed\",\"jitter_p99_ms <= 5\"\n"
            "\"1\",\"failed\",1,2\n\"20\",\"failed\",1,40\n\"300\",\"failed\",1,600\n");
  EXPECT_EQ(worst(reports), Verdict::Failed);
  reports[1].error = "lost";
  EXPECT_EQ(worst(reports), Verdict::Error);
  tinyxml2::XMLDocument doc;
  ASSERT_EQ(doc.Parse(junitXml(reports).c_str()), tinyxml2::XML_SUCCESS);
  int suites = 0;
  for (auto* e = doc.FirstChildElement("testsuites")->FirstChildElement("testsuite"); e;
       e = e->NextSiblingElement("testsuite"))
    ++suites;
  EXPECT_EQ(suites, 3);
  EXPECT_STREQ(
      doc.FirstChildElement("testsuites")->FirstChildElement("testsuite")->Attribute("name"),
      "sw [run.count=1]");
  EXPECT_EQ(sweepJson(reports)["points"].size(), 3u);
}

}  // namespace
}  // namespace kuiga::scenario
