#include "master/api/local_api.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "http/router.hpp"
namespace kuiga::master::api {

namespace {

// "/a/b?x=1&y=2" into the path and its query (the runner's values need no decoding).
void splitTarget(const std::string& target, http::Request& req) {
  auto q = target.find('?');
  req.path = target.substr(0, q);
  if (q == std::string::npos) return;
  std::stringstream in(target.substr(q + 1));
  for (std::string kv; std::getline(in, kv, '&');) {
    auto eq = kv.find('=');
    req.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
}

// A response's body, whichever way it comes, to `sink` (false from it: stop reading): in
// memory, a file, or a source read to its end.
VoidResult readBody(const http::Response& r, const std::function<bool(std::string_view)>& sink) {
  if (!r.file.empty()) {
    std::ifstream in(r.file, std::ios::binary);
    if (!in) return failSys("open " + r.file);
    char buf[1 << 16];
    while (in.read(buf, sizeof buf) || in.gcount() > 0)
      if (!sink({buf, static_cast<size_t>(in.gcount())})) break;
    return {};
  }
  if (!r.source) {
    sink(r.body);
    return {};
  }
  r.source->attach([] {});
  for (;;) {
    std::string chunk;  // a source pulls into an empty buffer, as the server gives it
    auto p = r.source->pull(chunk);
    if (!chunk.empty() && !sink(chunk)) return {};
    if (p.next == http::Source::Pull::Next::Done) return {};
    if (p.next == http::Source::Pull::Next::Wait)
      std::this_thread::sleep_for(std::max(p.wait, std::chrono::milliseconds(1)));
  }
}

}  // namespace

LocalApi::LocalApi(const Routes& routes, Owners owners, Caller caller)
    : routes_(routes), owners_(owners), caller_(std::move(caller)) {}

Result<scenario::Reply> LocalApi::request(const std::string& method, const std::string& path,
                                          const std::string& body) {
  http::Request req;
  req.method = method;
  splitTarget(path, req);
  req.body = body;
  req.headers["content-type"] = "application/json";
  return call(req);
}

Result<scenario::Reply> LocalApi::upload(const std::string& path, const std::string& file,
                                         const std::string& field,
                                         const std::map<std::string, std::string>& fields) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return failMsg(fmt::format("open '{}': {}", file, ec.message()));
  http::Request req;
  req.method = "POST";
  splitTarget(path, req);
  req.multipart = true;
  req.fields = fields;
  req.upload = http::Upload{field, std::filesystem::path(file).filename().string(), file, size};
  return call(req);
}

Result<http::Response> LocalApi::answer(http::Request& req) {
  // The route, as the HTTP server's router would find it.
  const auto segs = http::splitPath(req.path);
  for (const auto& r : routes_) {
    std::vector<std::string> params;
    if (r.method != req.method || !http::matchSegments(http::splitPath(r.pattern), segs, params))
      continue;
    req.params = std::move(params);
    req.label = r.pattern;
    return authorizedCall(r, owners_, req, caller_);
  }
  return failMsg(fmt::format("no route {} {}", req.method, req.path));
}

Result<scenario::Reply> LocalApi::call(http::Request& req) {
  auto res = answer(req);
  if (!res) return fail(res.error());
  scenario::Reply out{res->status, nullptr, {}};
  KUIGA_TRY(readBody(*res,
                     [&](std::string_view d) {
                       out.text.append(d);
                       return true;
                     }),
            "read the answer");
  if (res->type == "application/json" && !out.text.empty())
    out.body = nlohmann::json::parse(out.text, nullptr, false);
  if (out.body.is_discarded()) out.body = nullptr;
  return out;
}

VoidResult LocalApi::stream(const std::string& path,
                            const std::function<bool(std::string_view)>& sink) {
  http::Request req;
  req.method = "GET";
  splitTarget(path, req);
  auto res = answer(req);
  if (!res) return fail(res.error());
  if (res->status / 100 != 2) {
    scenario::Reply r{res->status, nlohmann::json::parse(res->body, nullptr, false), res->body};
    return failMsg(scenario::errorText(r));
  }
  return readBody(*res, sink);
}

}  // namespace kuiga::master::api
