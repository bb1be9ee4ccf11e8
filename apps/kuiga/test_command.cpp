// `kuiga test FILE`: a scenario run for a verdict. Exit codes: 0 every assertion holds, 1 one
// does not, 2 the scenario is bad (or the master refuses it), 3 the test could not run to its
// end (the master, a worker or the run failed: the verdict "error", not "failed").
#include <unistd.h>

#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "apps/kuiga/cli_common.hpp"
#include "apps/kuiga/node_commands.hpp"
#include "scenario/scenario.hpp"

namespace kuiga::app {

namespace {

void printReport(const scenario::Report& r) {
  for (const auto& o : r.outcomes) {
    std::cout << fmt::format("{:<6} {}  ({})\n",
                             o.verdict == scenario::Verdict::Passed ? "PASS" : "FAIL",
                             o.assertion->title, printable(o.measured));
    size_t shown = 0;
    for (const auto& [index, what] : o.evidence) {
      if (++shown > 3) {
        std::cout << fmt::format("         ... {} more devices (results.json)\n",
                                 o.evidence.size() - 3);
        break;
      }
      // The evidence's first line beside the device, its log tail below.
      std::istringstream lines(what);
      std::string line;
      std::getline(lines, line);
      std::cout << fmt::format("         device {}: {}\n", index, printable(line));
      while (std::getline(lines, line)) std::cout << "           " << printable(line) << "\n";
    }
  }
  if (!r.error.empty()) std::cout << "ERROR  " << printable(r.error) << "\n";
  std::cout << fmt::format("{}: {} in {:.1f} s\n",
                           r.scenario->name.empty() ? r.scenario->file : r.scenario->name,
                           scenario::toString(r.verdict()), r.seconds);
}

int exitCodeOf(scenario::Verdict v) {
  switch (v) {
    case scenario::Verdict::Passed:
      return 0;
    case scenario::Verdict::Failed:
      return 1;
    case scenario::Verdict::Error:
      return 3;
  }
  return 3;
}

struct TestOptions {
  ClientOptions client;
  std::string file, out;
  std::vector<std::string> sets;
  bool keep = false;
};
TestOptions t;

// Every point of the scenario (itself alone without a sweep), one after another.
int runTest() {
  auto points = scenario::loadPoints(t.file, t.sets);
  if (!points) {
    std::cerr << "kuiga test: " << points.error().message << "\n";
    return 2;
  }
  auto client = apiFor(t.client);
  auto api = scenario::httpApi(client);
  const bool sweep = !points->front().point.empty();
  scenario::RunOptions o;
  o.keep = t.keep;
  o.outDir = t.out;
  if (!t.client.json) o.progress = [](const std::string& line) { std::cerr << line << "\n"; };
  if (!t.client.json && ::isatty(STDERR_FILENO))
    o.bar = [](const std::string& phase, uint64_t done, uint64_t total) {
      int width = 40, filled = total ? static_cast<int>(width * done / total) : width;
      std::cerr << fmt::format("\r{:<7} [{}{}] {}/{}", phase, std::string(filled, '#'),
                               std::string(width - filled, ' '), done, total)
                << (done >= total ? "\n" : "") << std::flush;
    };
  auto run = scenario::runPoints(*api, *points, o);
  if (!run) {
    std::cerr << "kuiga test: " << run.error().message << "\n";
    return 2;
  }
  const auto& reports = *run;
  if (!t.client.json)
    for (const auto& r : reports) printReport(r);
  if (t.client.json)
    std::cout << (sweep ? scenario::sweepJson(reports) : scenario::resultsJson(reports[0])).dump()
              << "\n";
  else if (sweep)
    std::cout << scenario::sweepCsv(reports);
  return exitCodeOf(scenario::worst(reports));
}

}  // namespace

void addTestCommand(CLI::App& app, int& exitCode) {
  auto* test = app.add_subcommand(
      "test", "run a scenario file for a verdict (docs/usage.md, Tests as files)");
  addClientOptions(test, t.client);
  test->add_option("FILE", t.file, "the scenario (YAML)")->required();
  test->add_option("--out", t.out, "write results.json and junit.xml (and sweep.csv) here");
  test->add_option("--set", t.sets, "KEY=VALUE: override a scenario field, e.g. run.count=500");
  test->add_flag("--keep", t.keep, "leave the run (stopped) instead of deleting it");
  test->callback([&exitCode] { exitCode = runTest(); });
}

}  // namespace kuiga::app
