// Runs: create (with or without an upload), list, show, history, start, stop, delete, jitter.
// A run belongs to the user who created it; the route table's scope makes another user's run a
// 404 to them before any handler here runs.
#include <fmt/format.h>

#include "master/api/api_common.hpp"
#include "master/views.hpp"

namespace kuiga::master::api {

namespace {

using namespace doc;

// POST /runs: a JSON spec, or multipart with the spec as part "spec" and the AUT as "aut".
http::Response createRun(RunService& m, ImageService& images, http::Request& req,
                         const Caller& who) {
  std::string body = req.body;
  if (req.multipart) {
    if (!req.fields.contains("spec"))
      return replyError(ApiError::badRequest("no 'spec' part (the run spec as JSON)"));
    body = req.fields["spec"];
    if (req.upload && req.upload->field != "aut")
      return replyError(ApiError::badRequest("the AUT goes in a part named 'aut', not '" +
                                             req.upload->field + "'"));
  }
  auto j = parseJson(body);
  if (!j) return replyError(j.error());
  auto spec = RunSpec::fromJson(*j);
  if (!spec) return replyError(ApiError::badRequest(spec.error().message));
  if (req.upload) {
    auto img =
        images.addImage(req.upload->path, spec->uploadExecutable.value_or(req.upload->fileName),
                        spec->uploadProfile.value_or("linux"), who.user);
    if (!img) return replyError(img.error());
    if (!spec->image.empty() && spec->image != img->digest)
      return replyError(ApiError::badRequest("both an upload and a different 'image'"));
    spec->image = img->digest;
  } else if (spec->image.empty()) {
    return replyError(
        ApiError::badRequest("give an 'image' digest, or upload the AUT as part 'aut'"));
  } else if (spec->uploadProfile || spec->uploadExecutable) {
    return replyError(ApiError::badRequest(
        "'profile' and 'executable' belong to an upload; the image already has them"));
  } else if (!who.admin() && !images.ownsImage(spec->image, who.user)) {
    return replyError(ApiError::notFound("no image " + spec->image));
  }
  return answer(m.createRun(*spec, who.user), 201, [](const RunView& v) { return toJson(v); });
}

http::Response listRuns(RunService& m, const http::Request& req, const Caller& who) {
  auto offset = queryNumber(req, "offset", 0, 0, UINT32_MAX);
  if (!offset) return replyError(offset.error());
  auto limit = queryNumber(req, "limit", 100, 1, 1000);
  if (!limit) return replyError(limit.error());
  RunQuery q{static_cast<uint32_t>(*offset), static_cast<uint32_t>(*limit), req.arg("state"),
             req.arg("deleted") == "1" || req.arg("deleted") == "true", who.ownerFilter()};
  return answer(m.runs(q), 200, [&](const std::pair<std::vector<RunView>, uint64_t>& page) {
    json items = json::array();
    for (const auto& r : page.first) items.push_back(toJson(r));
    return json{{"offset", q.offset}, {"limit", q.limit}, {"total", page.second}, {"items", items}};
  });
}

Handler action(RunService& m, ApiResult<RunView> (RunService::*fn)(RunId)) {
  return [&m, fn](http::Request& req, const Caller&) {
    auto id = runIdOf(req);
    if (!id) return replyError(id.error());
    return answer((m.*fn)(*id), 202, [](const RunView& v) { return toJson(v); });
  };
}

http::Response jitter(RunService& m, const http::Request& req) {
  auto id = runIdOf(req);
  if (!id) return replyError(id.error());
  return answer(m.jitter(*id), 200, [](const JitterReport& rep) {
    json per = json::array();
    for (const auto& [idx, st] : rep.perInstance) {
      auto j = toJson(st);
      j["index"] = idx;
      per.push_back(j);
    }
    return json{{"run", toJson(rep.run)}, {"instances", per}, {"unit", "ms"}};
  });
}

json listDoc() {
  json page = {{"type", "object"},
               {"properties",
                {{"offset", {{"type", "integer"}}},
                 {"limit", {{"type", "integer"}}},
                 {"total", {{"type", "integer"}}},
                 {"items", {{"type", "array"}, {"items", ref("Run")}}}}}};
  return op(
      "A page of the caller's runs (every user's, for an admin) in id order; deleted "
      "runs only with deleted=1",
      with({{"200", ok("page", page)}}, {400}),
      {{"parameters",
        {param("offset", "query", "integer", false), param("limit", "query", "integer", false),
         param("state", "query", "string", false), param("deleted", "query", "integer", false)}}});
}

json createDoc() {
  json body = uploadRequestBody();
  body["content"]["application/json"] = {{"schema", ref("RunSpec")}};
  return op("Create a run (upload + spec, or spec naming an image of the caller's)",
            with({{"201", ok("run", ref("Run"))}}, {400, 404, 409, 413, 507}),
            {{"requestBody", body}});
}

json historyDoc() {
  json event = {{"type", "object"},
                {"properties",
                 {{"time", {{"type", "string"}}},
                  {"kind", {{"type", "string"}, {"enum", {"state", "cell"}}}},
                  {"state", {{"type", "string"}}},
                  {"host", {{"type", "string"}}},
                  {"detail", {{"type", "string"}}}}}};
  json history = {
      {"type", "object"},
      {"properties",
       {{"run", {{"type", "integer"}}}, {"events", {{"type", "array"}, {"items", event}}}}}};
  return op("The run's history: the states it entered (with reasons) and its cell's moves",
            with({{"200", ok("history", history)}}, {404}), {{"parameters", {runId()}}});
}

json jitterDoc() {
  json body = {{"type", "object"},
               {"properties",
                {{"run", ref("JitterStats")},
                 {"instances", {{"type", "array"}, {"items", ref("JitterStats")}}}}}};
  return op("Deadline jitter (report Eq. 5.1)",
            with({{"200", ok("jitter", body)}}, {400, 404, 502}), {{"parameters", {runId()}}});
}

json runAction(const std::string& summary, std::initializer_list<int> errs,
               json params = json::array({runId()})) {
  return op(summary, with({{"202", ok("run", ref("Run"))}}, errs), {{"parameters", params}});
}

}  // namespace

Routes runRoutes(Context& c) {
  RunService& m = c.runs;
  Routes r;
  r.push_back({"POST", "/api/v1/runs", Role::User, Scope::None, createDoc(),
               [&m, &images = c.images](http::Request& req, const Caller& who) {
                 return createRun(m, images, req, who);
               },
               http::Body::Multipart});
  r.push_back({"GET", "/api/v1/runs", Role::User, Scope::None, listDoc(),
               [&m](http::Request& req, const Caller& who) { return listRuns(m, req, who); }});
  r.push_back({"GET", "/api/v1/runs/{id}", Role::User, Scope::Run,
               op("One run with counts per instance state",
                  with({{"200", ok("run", ref("Run"))}}, {404}), {{"parameters", {runId()}}}),
               [&m](http::Request& req, const Caller&) {
                 auto id = runIdOf(req);
                 if (!id) return replyError(id.error());
                 return answer(m.run(*id), 200, [](const RunView& v) { return toJson(v); });
               }});
  r.push_back({"GET", "/api/v1/runs/{id}/history", Role::User, Scope::Run, historyDoc(),
               [&m](http::Request& req, const Caller&) {
                 auto id = runIdOf(req);
                 if (!id) return replyError(id.error());
                 return answer(m.runHistory(*id), 200, [](const json& j) { return j; });
               }});
  r.push_back({"POST", "/api/v1/runs/{id}/start", Role::User, Scope::Run,
               runAction("Start a ready run", {404, 409}), action(m, &RunService::startRun)});
  r.push_back({"POST", "/api/v1/runs/{id}/stop", Role::User, Scope::Run,
               runAction("Stop a running (or dirty) run", {404, 409}),
               action(m, &RunService::stopRun)});
  r.push_back({"DELETE", "/api/v1/runs/{id}", Role::User, Scope::Run,
               runAction("Delete a run and all its instances; its logs and captures go too, "
                         "unless keep_logs=1",
                         {404, 409}, {runId(), param("keep_logs", "query", "integer", false)}),
               [&m](http::Request& req, const Caller&) {
                 auto id = runIdOf(req);
                 if (!id) return replyError(id.error());
                 bool keep = req.arg("keep_logs") == "1" || req.arg("keep_logs") == "true";
                 return answer(m.deleteRun(*id, keep), 202,
                               [](const RunView& v) { return toJson(v); });
               }});
  r.push_back({"DELETE", "/api/v1/runs/{id}/logs", Role::User, Scope::Run,
               runAction("Remove the logs and captures a deleted run kept", {404, 409}),
               action(m, &RunService::purgeLogs)});
  r.push_back({"GET", "/api/v1/runs/{id}/jitter", Role::User, Scope::Run, jitterDoc(),
               [&m](http::Request& req, const Caller&) { return jitter(m, req); }});
  return r;
}

}  // namespace kuiga::master::api
