// Runs: create (with or without an upload), list, show, history, start, stop, delete, jitter.
#include <fmt/format.h>

#include "master/api/api_common.hpp"
#include "master/views.hpp"

namespace kuiga::master::api {

namespace {

// POST /runs: a JSON spec, or multipart with the spec as part "spec" and the AUT as "aut".
http::Response createRun(Master& m, http::Request& req) {
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
    auto img = m.addImage(req.upload->path, spec->uploadExecutable.value_or(req.upload->fileName),
                          spec->uploadProfile.value_or("linux"));
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
  }
  return answer(m.createRun(*spec), 201, [](const RunView& v) { return toJson(v); });
}

http::Response listRuns(Master& m, const http::Request& req) {
  auto offset = queryNumber(req, "offset", 0, 0, UINT32_MAX);
  if (!offset) return replyError(offset.error());
  auto limit = queryNumber(req, "limit", 100, 1, 1000);
  if (!limit) return replyError(limit.error());
  RunQuery q{static_cast<uint32_t>(*offset), static_cast<uint32_t>(*limit), req.arg("state"),
             req.arg("deleted") == "1" || req.arg("deleted") == "true"};
  return answer(m.runs(q), 200, [&](const std::pair<std::vector<RunView>, uint64_t>& page) {
    json items = json::array();
    for (const auto& r : page.first) items.push_back(toJson(r));
    return json{{"offset", q.offset}, {"limit", q.limit}, {"total", page.second}, {"items", items}};
  });
}

http::Handler action(Master& m, ApiResult<RunView> (Master::*fn)(RunId)) {
  return [&m, fn](http::Request& req) {
    auto id = runIdOf(req);
    if (!id) return replyError(id.error());
    return answer((m.*fn)(*id), 202, [](const RunView& v) { return toJson(v); });
  };
}

}  // namespace

Routes runRoutes(Context& c) {
  Master& m = c.master;
  Routes r;
  r.push_back({"POST", "/api/v1/runs", [&m](http::Request& req) { return createRun(m, req); },
               http::Body::Multipart});
  r.push_back({"GET", "/api/v1/runs", [&m](http::Request& req) { return listRuns(m, req); }});
  r.push_back({"GET", "/api/v1/runs/{id}", [&m](http::Request& req) {
                 auto id = runIdOf(req);
                 if (!id) return replyError(id.error());
                 return answer(m.run(*id), 200, [](const RunView& v) { return toJson(v); });
               }});
  r.push_back({"GET", "/api/v1/runs/{id}/history", [&m](http::Request& req) {
                 auto id = runIdOf(req);
                 if (!id) return replyError(id.error());
                 return answer(m.runHistory(*id), 200, [](const json& j) { return j; });
               }});
  r.push_back({"POST", "/api/v1/runs/{id}/start", action(m, &Master::startRun)});
  r.push_back({"POST", "/api/v1/runs/{id}/stop", action(m, &Master::stopRun)});
  r.push_back({"DELETE", "/api/v1/runs/{id}", [&m](http::Request& req) {
                 auto id = runIdOf(req);
                 if (!id) return replyError(id.error());
                 bool keep = req.arg("keep_logs") == "1" || req.arg("keep_logs") == "true";
                 return answer(m.deleteRun(*id, keep), 202,
                               [](const RunView& v) { return toJson(v); });
               }});
  r.push_back({"DELETE", "/api/v1/runs/{id}/logs", action(m, &Master::purgeLogs)});
  r.push_back({"GET", "/api/v1/runs/{id}/jitter", [&m](http::Request& req) {
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
               }});
  return r;
}

}  // namespace kuiga::master::api
