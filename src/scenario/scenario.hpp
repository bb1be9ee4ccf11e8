#pragma once
// A test as a file: a scenario names the AUT, its run spec, a duration, a timeline of actions
// and assertions over what Kuiga Box measures. `kuiga test FILE` runs it against a master and
// gives a verdict, results.json and junit.xml.
//
// Scenarios are YAML, read with yaml-cpp (Debian's): the client config is YAML already, and its
// marks give every error the line and column it is about. The run spec's fields keep the API's
// names (count, profile, net, args, period_ms, radio, zep, limits): the master checks them, in
// the one place run specs are checked.
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace kuiga::client {
class ApiClient;
}

namespace kuiga::scenario {

// What a test asks of a master: its REST API, over HTTP for `kuiga test` (httpApi), or in the
// master's own process, as the test's owner, for POST /api/v1/tests.
struct Reply {
  int status = 0;
  nlohmann::json body;  // null when the body is not JSON
  std::string text;
};
// "CODE (HTTP S): message" of an error reply.
std::string errorText(const Reply& r);

class Api {
 public:
  virtual ~Api() = default;
  // Any answer is a Reply; only failing to ask is an error.
  virtual Result<Reply> request(const std::string& method, const std::string& path,
                                const std::string& body = {}) = 0;
  // POST multipart/form-data: the file as part `field`, plus text fields.
  virtual Result<Reply> upload(const std::string& path, const std::string& file,
                               const std::string& field,
                               const std::map<std::string, std::string>& fields) = 0;
  // A GET whose body goes to `sink` piece by piece, as it comes (a run's merged log is large);
  // an error when the answer is not 2xx.
  virtual VoidResult stream(const std::string& path,
                            const std::function<bool(std::string_view)>& sink) = 0;
  // 2xx: the JSON body; otherwise an error saying why.
  Result<nlohmann::json> get(const std::string& path);
  Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body = {});
  Result<nlohmann::json> del(const std::string& path);
};
// The API of the master `client` talks to.
std::unique_ptr<Api> httpApi(client::ApiClient& client);

struct Place {
  int line = 0, column = 0;  // 1-based; 0: not from a file
};

// Devices an action is for: all of them, or these indexes.
struct Devices {
  bool all = true;
  std::vector<uint32_t> indexes;
};

struct Action {
  enum class Kind {
    Console,  // `console` written to the devices' stdin
    Stop,     // the devices stopped (SIGTERM, then SIGKILL after `graceSeconds`)
    Start,    // the devices started again (a stopped one is made anew, as it was)
    Server,   // `command` run by /bin/sh in the base station's network namespace until the end
  };
  Kind kind = Kind::Console;
  double atSeconds = 0;  // after the run started
  std::string console;   // Console: the line
  std::string command;   // Server: the shell command line
  std::string netns;     // Server: where (run.radio.uplink)
  double graceSeconds = 5;
  Devices devices;
  Place place;
  [[nodiscard]] std::string text() const;  // for progress: "stop devices 3, 4"
};

enum class Op { AtMost, AtLeast, Equal };

struct Bound {
  Op op = Op::AtMost;
  double value = 0;
  [[nodiscard]] bool holds(double measured) const;
  [[nodiscard]] std::string text() const;  // "<= 5"
};

struct Assertion {
  enum class Kind {
    Logs,           // devices log a line matching `regex` within `withinSeconds`
    LogCount,       // lines matching `regex`, per device or in total, against `bound`
    NoFailed,       // no instance failed
    JitterP99,      // the run's deadline jitter p99 in ms, against `bound`
    DeliveryRatio,  // of the frames devices sent toward the base station, the share forwarded
    ZepDelivery,    // of the ZEP copies the medium decided, the share delivered
    MissedFrames,   // frames the capture missed
    LeasesMax,      // the most UE leases held at once
  };
  Kind kind = Kind::NoFailed;
  std::string title;  // for the report: "every device logs /ready/ within 5 s"
  std::string regex;
  double withinSeconds = 0;  // Logs: 0 is by the end of the run
  double afterSeconds = 0;   // Logs: lines from this time on
  double share = 1.0;        // Logs: the share of devices that must (1: every one)
  bool perDevice = false;    // LogCount: each device against the bound, not the total
  Bound bound;
  Place place;
};

// One field at several values: the scenario runs once per value (a point of the sweep).
struct Sweep {
  std::string field;                // a dotted path from the top ("run.count")
  std::vector<std::string> values;  // each a YAML value
  Place place;
};

struct Scenario {
  std::string file;  // where it was read from ("" for text)
  std::string name;
  Sweep sweep;         // no field: none
  std::string point;   // a point of a sweep: "run.count=100"
  std::string source;  // the file's text, for the report
  std::string app;     // an AUT path (relative paths are the file's directory's)...
  std::string image;   // ...or an image digest already uploaded
  nlohmann::json spec = nlohmann::json::object();  // the run spec, as POST /api/v1/runs takes it
  double durationSeconds = 10;
  std::vector<Action> timeline;  // in time order
  std::vector<Assertion> assertions;
};

// Reads a scenario; `sets` are "path.to.key=value" overrides (a YAML value), applied first.
// Errors name the place: "FILE:LINE:COLUMN: what".
Result<Scenario> parse(const std::string& text, const std::string& file,
                       const std::vector<std::string>& sets = {});
Result<Scenario> load(const std::string& path, const std::vector<std::string>& sets = {});
// The scenario at each point of its sweep, in the sweep's order; itself alone without one.
Result<std::vector<Scenario>> parsePoints(const std::string& text, const std::string& file,
                                          const std::vector<std::string>& sets = {});
Result<std::vector<Scenario>> loadPoints(const std::string& path,
                                         const std::vector<std::string>& sets = {});

// What a run measured, as the assertions read it.
struct LogLine {
  double atSeconds = 0;  // after the run started
  std::string text;
};
struct Measured {
  uint32_t count = 0;
  std::map<uint32_t, std::string> states;         // index -> instance state
  std::map<uint32_t, std::string> reasons;        // index -> why it ended, when it did
  std::map<uint32_t, std::vector<LogLine>> logs;  // index -> its lines
  nlohmann::json jitter;                          // GET /runs/{id}/jitter
  nlohmann::json radio;                           // GET /runs/{id}/radio
};

enum class Verdict { Passed, Failed, Error };
const char* toString(Verdict v);

struct Outcome {
  const Assertion* assertion = nullptr;
  Verdict verdict = Verdict::Passed;
  std::string measured;  // the value, in words: "3.2", "97 of 100 devices"
  // The value as a number, for sweeps' tables and plots: a share of devices for logs and
  // per-device counts, a count or the measured value otherwise; NaN when there is none.
  double value = std::numeric_limits<double>::quiet_NaN();
  // For a failed one: the devices that failed it, with what was wrong (their log tail).
  std::map<uint32_t, std::string> evidence;
};

// Each assertion against what was measured (pure: no I/O).
std::vector<Outcome> evaluate(const Scenario& s, const Measured& m);

// A whole test: its outcomes, and why it could not run when it could not.
struct Report {
  const Scenario* scenario = nullptr;
  int64_t run = 0;
  double seconds = 0;  // how long it took
  std::vector<Outcome> outcomes;
  std::string error;  // set: the test could not run to its end (verdict error)
  // For report.html: the run sampled during the test ({t, counts, radio} a second), its jitter
  // (GET /runs/{id}/jitter) and the log tails of its worst devices.
  nlohmann::json samples = nlohmann::json::array();
  nlohmann::json jitter;
  std::map<uint32_t, std::string> tails;
  // The base-station servers the timeline started: their command and output's last lines.
  std::vector<std::pair<std::string, std::string>> servers;
  [[nodiscard]] Verdict verdict() const;
};

// results.json and junit.xml in `dir` (made if missing).
VoidResult writeReport(const Report& r, const std::string& dir);
nlohmann::json resultsJson(const Report& r);
std::string junitXml(const Report& r);
// A sweep's points: results.json (every point's), junit.xml (a test suite per point) and
// sweep.csv (a row per point: the field's value, the verdict, each assertion's value).
VoidResult writeSweep(const std::vector<Report>& points, const std::string& dir);
nlohmann::json sweepJson(const std::vector<Report>& points);
std::string junitXml(const std::vector<Report>& points);
std::string sweepCsv(const std::vector<Report>& points);
// report.html: one self-contained page (Kuiga Web's charts and styles inlined) for a test, or
// for a sweep (`sweep`: its points).
std::string reportHtml(const std::vector<Report>& points, bool sweep);
// The worst verdict of several: an error, else a failure, else passed.
Verdict worst(const std::vector<Report>& points);

struct RunOptions {
  bool keep = false;  // leave the run (stopped) rather than delete it
  std::string outDir;
  // Asked while the test waits: true ends it as an error ("cancelled"), the run stopped and
  // deleted as usual.
  std::function<bool()> cancelled = [] { return false; };
  // Whether the timeline may start base-station servers here (`kuiga test` runs them; the
  // master only for an admin's test).
  bool servers = true;
  // Where servers run: "" is the scenario file's directory.
  std::string serverDir;
  // Progress for a person, one line at a time.
  std::function<void(const std::string&)> progress = [](const std::string&) {};
  // Instances through a phase ("create", "start"), as `kuiga run create` draws its bar.
  std::function<void(const std::string& phase, uint64_t done, uint64_t total)> bar =
      [](const std::string&, uint64_t, uint64_t) {};
};

// Uploads, creates, starts, follows the timeline, measures, evaluates, stops and deletes.
// A failure of the system (the master, a worker) is a report with `error` set; a scenario the
// master refuses is an error result (a bad scenario).
Result<Report> run(Api& api, const Scenario& s, const RunOptions& o);
// Every point of a scenario (parsePoints), one after another: `o.outDir` gets a directory per
// point and the sweep's files (writeSweep), or a lone point's files; `o.progress` lines carry
// the point. The reports point into `points`, which must outlive them. An error result: a
// point the master refused (a bad scenario), or the sweep's files could not be written.
Result<std::vector<Report>> runPoints(Api& api, const std::vector<Scenario>& points,
                                      const RunOptions& o);

}  // namespace kuiga::scenario
