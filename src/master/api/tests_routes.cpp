// Tests the master runs: submit a scenario (with its AUT), list them, follow one (its record;
// its progress is on the event stream as "test" events), cancel, delete, and download what it
// wrote (report.html, results.json, junit.xml, sweep.csv, logs, frames).
#include <fmt/format.h>

#include "master/api/api_common.hpp"
#include "master/test_service.hpp"
#include "master/views.hpp"

namespace kuiga::master::api {

namespace {

json toJson(const TestRecord& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"owner", t.owner},
          {"state", t.state},
          {"error", t.error.empty() ? json() : json(t.error)},
          {"summary", t.summary},
          {"created", isoTime(t.createdNs)},
          {"finished", t.finishedNs ? json(isoTime(t.finishedNs)) : json()}};
}

// Multipart: the scenario's text in part "scenario" (its file name in "file_name"), the AUT as
// the file part "aut", overrides as a JSON list of "KEY=VALUE" in "set". Or the scenario alone
// as the body.
http::Response submit(TestService& tests, http::Request& req, const Caller& who) {
  TestSubmission sub;
  if (!req.multipart) {
    sub.scenario = req.body;
  } else {
    if (!req.fields.contains("scenario"))
      return replyError(ApiError::badRequest("no 'scenario' part (the scenario file's text)"));
    sub.scenario = req.fields["scenario"];
    sub.fileName = req.fields["file_name"];
    if (req.fields.contains("set")) {
      auto sets = parseJson(req.fields["set"]);
      if (!sets) return replyError(sets.error());
      if (!sets->is_array())
        return replyError(ApiError::badRequest("'set' is a JSON list of \"KEY=VALUE\""));
      for (const auto& s : *sets) {
        if (!s.is_string())
          return replyError(ApiError::badRequest("'set' is a JSON list of \"KEY=VALUE\""));
        sub.sets.push_back(s.get<std::string>());
      }
    }
    if (req.upload) {
      if (req.upload->field != "aut")
        return replyError(ApiError::badRequest("the AUT goes in a part named 'aut', not '" +
                                               req.upload->field + "'"));
      sub.autPath = req.upload->path;
      sub.autName = req.upload->fileName;
    }
  }
  if (sub.scenario.empty()) return replyError(ApiError::badRequest("the scenario is empty"));
  return answer(tests.submit(sub, who), 201, [](const TestRecord& t) { return toJson(t); });
}

http::Response download(TestService& tests, const http::Request& req) {
  auto id = testIdOf(req);
  if (!id) return replyError(id.error());
  const std::string name = req.params.size() == 3
                               ? fmt::format("point-{}/{}", req.params[1], req.params[2])
                               : req.params[1];
  auto path = tests.file(*id, name);
  if (!path) return replyError(path.error());
  http::Response r;
  r.file = *path;
  const std::string base = req.params.back();
  r.type = base.ends_with(".html")     ? "text/html; charset=utf-8"
           : base.ends_with(".json")   ? "application/json"
           : base.ends_with(".xml")    ? "application/xml"
           : base.ends_with(".csv")    ? "text/csv"
           : base.ends_with(".gz")     ? "application/gzip"
           : base.ends_with(".pcapng") ? "application/vnd.tcpdump.pcap"
                                       : "text/plain; charset=utf-8";
  if (!base.ends_with(".html"))
    r.headers.emplace_back("Content-Disposition",
                           fmt::format("attachment; filename=\"test-{}-{}\"", *id, base));
  return r;
}

json testDoc(const std::string& summary, std::initializer_list<int> errors, json extra = {}) {
  using namespace doc;
  json params = {param("id", "path", "integer")};
  if (extra.is_array())
    for (auto& p : extra) params.push_back(p);
  return op(summary, with({{"200", ok("test", {{"type", "object"}})}}, errors),
            {{"parameters", params}});
}

}  // namespace

Routes testRoutes(Context& c) {
  using namespace doc;
  TestService& t = c.tests;
  Routes r;
  json body = {{"type", "object"},
               {"properties",
                {{"scenario", {{"type", "string"}}},
                 {"file_name", {{"type", "string"}}},
                 {"set", {{"type", "string"}}},
                 {"aut", {{"type", "string"}, {"format", "binary"}}}}}};
  r.push_back({"POST", "/api/v1/tests", Role::User, Scope::None,
               op("Run a scenario (docs/usage.md, Tests as files): queued, then run as its owner; "
                  "progress as \"test\" events",
                  with({{"201", ok("test", {{"type", "object"}})}}, {400, 403, 413}),
                  {{"requestBody", {{"content", {{"multipart/form-data", {{"schema", body}}}}}}}}),
               [&t](http::Request& req, const Caller& who) { return submit(t, req, who); },
               http::Body::Multipart});
  r.push_back({"GET", "/api/v1/tests", Role::User, Scope::None,
               op("Tests, newest first (the caller's; an admin's: everyone's)",
                  with({{"200", ok("tests", {{"type", "object"}})}}, {})),
               [&t](http::Request&, const Caller& who) {
                 return answer(t.tests(who.ownerFilter()), 200,
                               [](const std::vector<TestRecord>& v) {
                                 json items = json::array();
                                 for (const auto& x : v) items.push_back(toJson(x));
                                 return json{{"items", items}};
                               });
               }});
  r.push_back({"GET", "/api/v1/tests/{id}", Role::User, Scope::Test,
               testDoc("One test: its state, verdicts per point and error", {404}),
               [&t](http::Request& req, const Caller&) {
                 auto id = testIdOf(req);
                 if (!id) return replyError(id.error());
                 return answer(t.test(*id), 200, [](const TestRecord& x) { return toJson(x); });
               }});
  r.push_back({"POST", "/api/v1/tests/{id}/cancel", Role::User, Scope::Test,
               testDoc("Cancel a queued or running test (an error, its run stopped and deleted)",
                       {404, 409}),
               [&t](http::Request& req, const Caller&) {
                 auto id = testIdOf(req);
                 if (!id) return replyError(id.error());
                 return answer(t.cancel(*id), 202, [](const TestRecord& x) { return toJson(x); });
               }});
  r.push_back({"DELETE", "/api/v1/tests/{id}", Role::User, Scope::Test,
               testDoc("Forget a finished test and its files", {404, 409}),
               [&t](http::Request& req, const Caller&) {
                 auto id = testIdOf(req);
                 if (!id) return replyError(id.error());
                 if (auto gone = t.remove(*id); !gone) return replyError(gone.error());
                 return reply(200, {{"deleted", *id}});
               }});
  r.push_back({"GET", "/api/v1/tests/{id}/files/{name}", Role::User, Scope::Test,
               testDoc("A file the test wrote: report.html, results.json, junit.xml, sweep.csv, "
                       "logs.tar.gz, run.pcapng, server-N.log, scenario.yaml",
                       {404}, json::array({param("name", "path", "string")})),
               [&t](http::Request& req, const Caller&) { return download(t, req); }});
  r.push_back(
      {"GET", "/api/v1/tests/{id}/points/{k}/files/{name}", Role::User, Scope::Test,
       testDoc("A file of one point of a sweep (1 is the first)", {404},
               json::array({param("k", "path", "integer"), param("name", "path", "string")})),
       [&t](http::Request& req, const Caller&) { return download(t, req); }});
  return r;
}

}  // namespace kuiga::master::api
