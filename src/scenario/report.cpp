// A test's results as files: results.json (every assertion with its measured value and, for a
// failed one, the devices that failed it) and junit.xml (one test case per assertion, written
// with tinyxml2 so that every name and log line is escaped as XML wants).
#include <tinyxml2.h>

#include <cmath>
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
  // The timeline's base-station servers, with their output's end.
  nlohmann::json servers = nlohmann::json::array();
  for (const auto& [command, tail] : r.servers)
    servers.push_back({{"command", command}, {"tail", tail}});
  return {{"scenario", r.scenario->name},
          {"file", r.scenario->file},
          {"run", r.run},
          {"verdict", toString(r.verdict())},
          {"error", r.error.empty() ? nlohmann::json() : nlohmann::json(r.error)},
          {"seconds", r.seconds},
          {"spec", r.scenario->spec},
          {"assertions", assertions},
          {"servers", servers}};
}

namespace {

// One report's test suite: a test case per assertion, and an error case when it could not run.
void addSuite(tinyxml2::XMLDocument& doc, tinyxml2::XMLElement* suites, const Report& r) {
  auto* suite = doc.NewElement("testsuite");
  suites->InsertEndChild(suite);
  std::string name = r.scenario->name.empty() ? r.scenario->file : r.scenario->name;
  if (!r.scenario->point.empty()) name += " [" + r.scenario->point + "]";
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
}

std::string csvField(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string junitXml(const std::vector<Report>& points) {
  tinyxml2::XMLDocument doc;
  doc.InsertFirstChild(doc.NewDeclaration());
  auto* suites = doc.NewElement("testsuites");
  doc.InsertEndChild(suites);
  for (const auto& r : points) addSuite(doc, suites, r);
  tinyxml2::XMLPrinter printer;
  doc.Print(&printer);
  return printer.CStr();
}

std::string junitXml(const Report& r) {
  return junitXml(std::vector<Report>{r});
}

Verdict worst(const std::vector<Report>& points) {
  Verdict v = Verdict::Passed;
  for (const auto& r : points) {
    if (r.verdict() == Verdict::Error) return Verdict::Error;
    if (r.verdict() == Verdict::Failed) v = Verdict::Failed;
  }
  return v;
}

nlohmann::json sweepJson(const std::vector<Report>& points) {
  nlohmann::json each = nlohmann::json::array();
  for (const auto& r : points) {
    auto j = resultsJson(r);
    j["point"] = r.scenario->point;
    each.push_back(std::move(j));
  }
  const Scenario& s = *points.front().scenario;
  return {{"scenario", s.name},
          {"file", s.file},
          {"verdict", toString(worst(points))},
          {"sweep", {{"field", s.sweep.field}, {"values", s.sweep.values}}},
          {"points", each}};
}

std::string sweepCsv(const std::vector<Report>& points) {
  const Scenario& s = *points.front().scenario;
  std::string out = csvField(s.sweep.field) + ",\"verdict\"";
  for (const auto& a : s.assertions) out += "," + csvField(a.title);
  out += "\n";
  for (size_t i = 0; i < points.size(); ++i) {
    const Report& r = points[i];
    out += csvField(i < s.sweep.values.size() ? s.sweep.values[i] : "") + "," +
           csvField(toString(r.verdict()));
    for (size_t k = 0; k < s.assertions.size(); ++k) {
      out += ",";
      if (k < r.outcomes.size() && !std::isnan(r.outcomes[k].value))
        out += fmt::format("{:g}", r.outcomes[k].value);
    }
    out += "\n";
  }
  return out;
}

VoidResult writeSweep(const std::vector<Report>& points, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return failMsg("cannot make " + dir + ": " + ec.message());
  KUIGA_TRY(writeFile(dir + "/results.json", sweepJson(points).dump(2) + "\n"), "results");
  KUIGA_TRY(writeFile(dir + "/junit.xml", junitXml(points)), "results");
  KUIGA_TRY(writeFile(dir + "/sweep.csv", sweepCsv(points)), "results");
  KUIGA_TRY(writeFile(dir + "/report.html", reportHtml(points, true)), "results");
  return {};
}

VoidResult writeReport(const Report& r, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return failMsg("cannot make " + dir + ": " + ec.message());
  KUIGA_TRY(writeFile(dir + "/results.json", resultsJson(r).dump(2) + "\n"), "results");
  KUIGA_TRY(writeFile(dir + "/junit.xml", junitXml(r)), "results");
  KUIGA_TRY(writeFile(dir + "/report.html", reportHtml({r}, false)), "results");
  return {};
}

}  // namespace kuiga::scenario
