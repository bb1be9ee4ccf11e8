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

}  // namespace

void addTestCommand(CLI::App& app, int& exitCode) {
  static ClientOptions c;
  static std::string file, out;
  static std::vector<std::string> sets;
  static bool keep = false;
  auto* test = app.add_subcommand(
      "test", "run a scenario file for a verdict (docs/usage.md, Tests as files)");
  addClientOptions(test, c);
  test->add_option("FILE", file, "the scenario (YAML)")->required();
  test->add_option("--out", out, "write results.json and junit.xml here");
  test->add_option("--set", sets, "KEY=VALUE: override a scenario field, e.g. run.count=500");
  test->add_flag("--keep", keep, "leave the run (stopped) instead of deleting it");
  test->callback([&exitCode] {
    auto s = scenario::load(file, sets);
    if (!s) {
      std::cerr << "kuiga test: " << s.error().message << "\n";
      return void(exitCode = 2);
    }
    auto api = apiFor(c);
    scenario::RunOptions o;
    o.keep = keep;
    o.outDir = out;
    if (!c.json) o.progress = [](const std::string& line) { std::cerr << line << "\n"; };
    auto r = scenario::run(api, *s, o);
    if (!r) {
      std::cerr << "kuiga test: " << r.error().message << "\n";
      return void(exitCode = 2);
    }
    if (c.json)
      std::cout << scenario::resultsJson(*r).dump() << "\n";
    else
      printReport(*r);
    switch (r->verdict()) {
      case scenario::Verdict::Passed:
        exitCode = 0;
        break;
      case scenario::Verdict::Failed:
        exitCode = 1;
        break;
      case scenario::Verdict::Error:
        exitCode = 3;
        break;
    }
  });
}

}  // namespace kuiga::app
