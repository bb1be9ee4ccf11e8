// A test's results as files: results.json (every assertion with its measured value and, for a
// failed one, the devices that failed it) and junit.xml (one test case per assertion, written
// with tinyxml2 so that every name and log line is escaped as XML wants).
#include <tinyxml2.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "scenario/scenario.hpp"

namespace kuiga::scenario {

namespace {

VoidResult writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return failMsg("cannot write " + path);
  return {};
}

std::string placeText(const Scenario& s, const Place& p) {
  if (p.line == 0) return s.file;
  return fmt::format("{}:{}:{}", s.file.empty() ? "scenario" : s.file, p.line, p.column);
}

}  // namespace

nlohmann::json resultsJson(const Report& r) {
  nlohmann::json assertions = nlohmann::json::array();
  for (const auto& o : r.outcomes) {
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& [index, what] : o.evidence)
      devices.push_back({{"index", index}, {"evidence", what}});
    assertions.push_back({{"assertion", o.assertion->title},
                          {"at", placeText(*r.scenario, o.assertion->place)},
                          {"verdict", toString(o.verdict)},
                          {"measured", o.measured},
                          {"failed_devices", devices}});
  }
  return {{"scenario", r.scenario->name},
          {"file", r.scenario->file},
          {"run", r.run},
          {"verdict", toString(r.verdict())},
          {"error", r.error.empty() ? nlohmann::json() : nlohmann::json(r.error)},
          {"seconds", r.seconds},
          {"spec", r.scenario->spec},
          {"assertions", assertions}};
}

std::string junitXml(const Report& r) {
  tinyxml2::XMLDocument doc;
  doc.InsertFirstChild(doc.NewDeclaration());
  auto* suites = doc.NewElement("testsuites");
  doc.InsertEndChild(suites);
  auto* suite = doc.NewElement("testsuite");
  suites->InsertEndChild(suite);
  const std::string name = r.scenario->name.empty() ? r.scenario->file : r.scenario->name;
  int failures = 0;
  suite->SetAttribute("name", name.c_str());
  suite->SetAttribute("time", fmt::format("{:.3f}", r.seconds).c_str());
  for (const auto& o : r.outcomes) {
    auto* tc = doc.NewElement("testcase");
    tc->SetAttribute("classname", name.c_str());
    tc->SetAttribute("name", o.assertion->title.c_str());
    if (o.verdict != Verdict::Passed) {
      ++failures;
      auto* f = doc.NewElement("failure");
      f->SetAttribute("message", ("measured: " + o.measured).c_str());
      std::string body;
      for (const auto& [index, what] : o.evidence)
        body += fmt::format("device {}: {}\n", index, what);
      f->SetText(body.c_str());
      tc->InsertEndChild(f);
    }
    suite->InsertEndChild(tc);
  }
  int errors = 0;
  if (!r.error.empty()) {
    // The test could not run to its end: one case says why.
    auto* tc = doc.NewElement("testcase");
    tc->SetAttribute("classname", name.c_str());
    tc->SetAttribute("name", "the run");
    auto* e = doc.NewElement("error");
    e->SetAttribute("message", r.error.c_str());
    tc->InsertEndChild(e);
    suite->InsertEndChild(tc);
    errors = 1;
  }
  suite->SetAttribute("tests", static_cast<int>(r.outcomes.size()) + errors);
  suite->SetAttribute("failures", failures);
  suite->SetAttribute("errors", errors);
  tinyxml2::XMLPrinter printer;
  doc.Print(&printer);
  return printer.CStr();
}

VoidResult writeReport(const Report& r, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return failMsg("cannot make " + dir + ": " + ec.message());
  KUIGA_TRY(writeFile(dir + "/results.json", resultsJson(r).dump(2) + "\n"), "results");
  KUIGA_TRY(writeFile(dir + "/junit.xml", junitXml(r)), "results");
  return {};
}

}  // namespace kuiga::scenario
