#include "master/http_api.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "common/digest.hpp"
#include "master/log_archive.hpp"
#include "master/views.hpp"
#include "web/web_assets.hpp"

namespace kuiga::master {

namespace fs = std::filesystem;
using httplib::Request;
using httplib::Response;
using json = nlohmann::json;

namespace {

// When the request this server thread handles began (httplib runs one request per thread at a
// time, from the pre-routing handler to the logger).
thread_local std::chrono::steady_clock::time_point requestStart;

void reply(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void replyError(Response& res, const ApiError& e) {
  reply(res, e.status, {{"error", e.code}, {"message", e.message}});
}

template <class T, class Fn>
void answer(Response& res, const ApiResult<T>& r, int okStatus, Fn&& toBody) {
  if (!r) return replyError(res, r.error());
  reply(res, okStatus, toBody(*r));
}

// Parses a path or query number, refusing anything but plain decimal digits in range.
std::optional<uint64_t> number(const std::string& s, uint64_t max) {
  if (s.empty() || s.size() > 19 || !std::all_of(s.begin(), s.end(), ::isdigit))
    return std::nullopt;
  uint64_t v = std::stoull(s);
  if (v > max) return std::nullopt;
  return v;
}

ApiResult<RunId> runIdOf(const Request& req) {
  auto v = number(req.matches[1], UINT32_MAX);
  if (!v) return apiFail(ApiError::notFound("no run " + std::string(req.matches[1])));
  return static_cast<RunId>(*v);
}

ApiResult<InstanceId> instanceIdOf(const Request& req) {
  auto run = runIdOf(req);
  if (!run) return apiFail(run.error());
  auto idx = number(req.matches[2], UINT32_MAX);
  if (!idx) return apiFail(ApiError::notFound("no instance " + std::string(req.matches[2])));
  return InstanceId{*run, static_cast<uint32_t>(*idx)};
}

ApiResult<json> parseJson(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return apiFail(ApiError::badRequest("the body is not valid JSON"));
  return j;
}

// A spooled upload: deleted when it goes out of scope.
struct Upload {
  std::string path;
  std::string fileName;
  uint64_t size = 0;
  ~Upload() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

// A subscriber's queue for server-sent events.
struct EventFeed {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> items;
  bool overflow = false;
};

// Splits complete lines off `buf` (keeping a trailing partial line there).
std::vector<std::string> takeLines(std::string& buf) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(buf.substr(start, nl - start));
  buf.erase(0, start);
  return out;
}

// A log's content type. httplib compresses text/* for clients that accept gzip or brotli, and
// its compressor holds a stream's chunks until it has a block's worth: a followed log would
// reach a browser seconds late. So a followed log goes out as octet-stream, uncompressed.
const char* streamType(bool follow) {
  return follow ? "application/octet-stream" : "text/plain; charset=utf-8";
}

}  // namespace

HttpApi::HttpApi(Master& master, HttpApiConfig config)
    : master_(master), config_(std::move(config)), server_(std::make_unique<httplib::Server>()) {}

HttpApi::~HttpApi() {
  stop();
}

void HttpApi::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

Result<std::unique_ptr<HttpApi>> HttpApi::start(Master& master, HttpApiConfig config) {
  std::unique_ptr<HttpApi> api(new HttpApi(master, std::move(config)));
  std::error_code ec;
  fs::create_directories(api->config_.uploadDir, ec);
  if (ec) return failMsg(fmt::format("create '{}': {}", api->config_.uploadDir, ec.message()));
  auto& s = *api->server_;
  // Streams (logs, events) hold a thread each for as long as a client follows them.
  s.new_task_queue = [] { return new httplib::ThreadPool(64); };
  // Past the cap the request is refused before its body is read; a little room is left for the
  // spec and multipart framing around the AUT.
  s.set_payload_max_length(api->config_.maxUploadBytes + (1 << 20));
  s.set_read_timeout(60);
  s.set_write_timeout(60);
  api->routes();
  api->port_ =
      api->config_.port == 0
          ? s.bind_to_any_port(api->config_.host)
          : (s.bind_to_port(api->config_.host, api->config_.port) ? api->config_.port : -1);
  if (api->port_ <= 0)
    return failMsg(fmt::format("cannot listen on {}:{} (address in use?)", api->config_.host,
                               api->config_.port));
  api->thread_ = std::thread([&s] { s.listen_after_bind(); });
  spdlog::info("API on http://{}:{}/api/v1/, Kuiga Web on http://{}:{}/", api->config_.host,
               api->port_, api->config_.host, api->port_);
  return api;
}

// The run's logs as a tar.gz, one file per instance ("run-R/dev-NNNN.log"), built and sent a
// batch of instances at a time so that 10,000 logs never sit in memory together. Instances
// whose worker cannot be reached are listed in "run-R/UNAVAILABLE.txt" rather than left out
// silently.
void HttpApi::logArchive(Response& res, RunId id, const std::vector<InstanceRecord>& insts) {
  auto archive = LogArchive::open();
  if (!archive) return replyError(res, ApiError::internal(archive.error().message));
  struct State {
    std::unique_ptr<LogArchive> archive;
    std::vector<InstanceId> ids;
    size_t next = 0;
    std::string unavailable;
  };
  auto st = std::make_shared<State>();
  st->archive = std::move(*archive);
  for (const auto& i : insts)
    if (i.state != kDeleted) st->ids.push_back(i.id);
  Master& m = master_;
  res.set_header("Content-Disposition",
                 fmt::format("attachment; filename=\"run-{}-logs.tar.gz\"", id));
  res.set_chunked_content_provider(
      "application/gzip", [&m, st, id](size_t, httplib::DataSink& sink) {
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        while (st->next < st->ids.size()) {
          size_t end = std::min(st->ids.size(), st->next + 200);
          std::map<InstanceId, std::string> data;
          std::map<InstanceId, uint64_t> offset;
          for (size_t k = st->next; k < end; ++k) offset[st->ids[k]] = 0;
          // Rounds of 1 MiB per instance until every log has been read to its end.
          while (!offset.empty()) {
            std::vector<LogCursor> cursors;
            for (const auto& [iid, off] : offset) cursors.push_back({iid, off});
            auto r = m.readLogs(cursors, 1u << 20);
            std::map<InstanceId, const LogChunk*> got;
            if (r)
              for (const auto& ch : *r) got[ch.id] = &ch;
            for (auto it = offset.begin(); it != offset.end();) {
              auto g = got.find(it->first);
              if (g == got.end()) {  // its worker did not answer: say so in the archive
                st->unavailable += fmt::format(
                    "{}: {} (log {})\n", displayName(it->first),
                    r ? std::string("its worker did not answer") : r.error().message,
                    it->second == 0 ? "missing" : "cut at byte " + std::to_string(it->second));
                it = offset.erase(it);
              } else if (g->second->data.empty()) {  // read to its end
                it = offset.erase(it);
              } else {
                data[it->first] += g->second->data;
                it->second = g->second->offset;
                ++it;
              }
            }
          }
          for (size_t k = st->next; k < end; ++k)
            if (!st->archive->add(displayName(st->ids[k]) + ".log", data[st->ids[k]], now))
              return false;
          st->next = end;
          std::string out = st->archive->take();
          if (!out.empty()) return sink.write(out.data(), out.size());
        }
        if (!st->unavailable.empty()) {
          if (!st->archive->add(fmt::format("run-{}/UNAVAILABLE.txt", id), st->unavailable, now))
            return false;
          st->unavailable.clear();
        }
        if (!st->archive->finish()) return false;
        std::string out = st->archive->take();
        if (!out.empty() && !sink.write(out.data(), out.size())) return false;
        sink.done();
        return true;
      });
}

void HttpApi::routes() {
  auto& s = *server_;
  Master& m = master_;
  const HttpApiConfig& cfg = config_;

  s.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    replyError(res, ApiError::internal(what));
  });
  s.set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404)
      replyError(res, ApiError::notFound("no such endpoint: " + req.method + " " + req.path));
    else if (res.status == 413)
      replyError(res, {413, "too_large", "the request body is larger than the upload limit"});
    else if (res.status == 405)
      replyError(res, {405, "method_not_allowed", req.method + " is not allowed on " + req.path});
    else if (res.status == 400)
      replyError(res, ApiError::badRequest("malformed HTTP request"));
  });

  // Every request is counted and timed for /metrics, by route (ids replaced).
  s.set_pre_routing_handler([](const Request& req, Response&) {
    requestStart = std::chrono::steady_clock::now();
    // Debian's httplib answers a client that accepts brotli with brotli at quality 11, which
    // took 6.6 s for the 1.5 MB listing of 10,000 instances (gzip: 0.27 s) and stalled the
    // web UI. Offer it gzip only: drop "br" from what the client accepts. The request is the
    // server's own mutable object; the handler is merely given a const view of it.
    auto& headers = const_cast<Request&>(req).headers;
    if (auto it = headers.find("Accept-Encoding"); it != headers.end()) {
      std::string kept;
      for (size_t start = 0; start <= it->second.size();) {
        size_t comma = it->second.find(',', start);
        if (comma == std::string::npos) comma = it->second.size();
        std::string token = it->second.substr(start, comma - start);
        token.erase(0, token.find_first_not_of(' '));
        if (!token.empty() && token.rfind("br", 0) != 0) kept += (kept.empty() ? "" : ", ") + token;
        start = comma + 1;
      }
      it->second = kept;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_logger([&m](const Request& req, const Response& res) {
    m.metrics().request(
        req.method, req.path, res.status,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - requestStart).count());
  });
  s.Get("/metrics", [&m](const Request&, Response& res) {
    res.set_content(m.metricsText(), "text/plain; version=0.0.4; charset=utf-8");
  });

  // Kuiga Web: its three files, compiled in. Cached by the browser until they change.
  for (const auto& a : web::assets()) {
    std::string etag = fmt::format("\"{:016x}\"", std::hash<std::string_view>{}(a.data));
    s.Get(std::string(a.path), [&a, etag](const Request& req, Response& res) {
      res.set_header("ETag", etag);
      res.set_header("Cache-Control", "no-cache");
      if (req.get_header_value("If-None-Match") == etag) {
        res.status = 304;
        return;
      }
      res.set_content(a.data.data(), a.data.size(), std::string(a.contentType));
    });
  }
  s.Get("/api/v1/openapi.json", [](const Request&, Response& res) {
    res.set_content(openApiDocument(), "application/json");
  });
  s.Get("/api/v1/cluster", [&m, &cfg](const Request&, Response& res) {
    reply(res, 200,
          {{"rpc_port", cfg.rpcPort},
           {"free_capacity", m.freeCapacity()},
           {"max_upload_bytes", cfg.maxUploadBytes}});
  });

  // Reads a request body: a multipart upload (part "aut" streamed to disk, every other part
  // kept as a field) or plain JSON.
  auto readBody = [&cfg](const Request& req, const httplib::ContentReader& reader, Upload& up,
                         std::map<std::string, std::string>& fields,
                         std::string& body) -> std::optional<ApiError> {
    if (!req.is_multipart_form_data()) {
      bool ok = reader([&](const char* d, size_t n) {
        if (body.size() + n > (1u << 20)) return false;
        body.append(d, n);
        return true;
      });
      if (!ok) return ApiError{413, "too_large", "a JSON body is limited to 1 MiB"};
      return std::nullopt;
    }
    std::string part;
    std::ofstream out;
    std::optional<ApiError> err;
    static std::atomic<uint64_t> seq{0};
    bool ok = reader(
        [&](const httplib::MultipartFormData& h) {
          part = h.name;
          if (part == "aut") {
            if (!up.path.empty()) {
              err = ApiError::badRequest("more than one 'aut' part");
              return false;
            }
            up.path = fmt::format("{}/upload-{}-{}", cfg.uploadDir, ::getpid(), seq++);
            up.fileName = h.filename;
            out.open(up.path, std::ios::binary | std::ios::trunc);
            if (!out) {
              err = ApiError::internal("cannot spool the upload to " + up.path);
              return false;
            }
          }
          return true;
        },
        [&](const char* d, size_t n) {
          if (part == "aut") {
            up.size += n;
            if (up.size > cfg.maxUploadBytes) {
              err = ApiError{413, "too_large",
                             fmt::format("the AUT is larger than the upload limit of {} bytes",
                                         cfg.maxUploadBytes)};
              return false;
            }
            out.write(d, static_cast<std::streamsize>(n));
            return static_cast<bool>(out);
          }
          auto& f = fields[part];
          if (f.size() + n > (1u << 20)) {
            err = ApiError{413, "too_large", "form field '" + part + "' is larger than 1 MiB"};
            return false;
          }
          f.append(d, n);
          return true;
        });
    out.close();
    if (err) return err;
    if (!ok) return ApiError::badRequest("the multipart body is malformed or incomplete");
    return std::nullopt;
  };

  s.Post("/api/v1/images", [&m, readBody](const Request& req, Response& res,
                                          const httplib::ContentReader& reader) {
    Upload up;
    std::map<std::string, std::string> fields;
    std::string body;
    if (!req.is_multipart_form_data())
      return replyError(res, ApiError::badRequest(
                                 "upload the AUT as multipart/form-data with a part named 'aut'"));
    if (auto e = readBody(req, reader, up, fields, body)) return replyError(res, *e);
    if (up.path.empty())
      return replyError(res, ApiError::badRequest("no 'aut' part in the upload"));
    std::string profile = fields.contains("profile") ? fields["profile"] : "linux";
    auto img = m.addImage(up.path, up.fileName, profile);
    answer(res, img, 201, [](const ImageRecord& i) { return toJson(i); });
  });
  s.Get("/api/v1/images", [&m](const Request&, Response& res) {
    answer(res, m.images(), 200, [](const std::vector<ImageRecord>& v) {
      json a = json::array();
      for (const auto& i : v) a.push_back(toJson(i));
      return a;
    });
  });
  s.Get(R"(/api/v1/images/([^/]+))", [&m](const Request& req, Response& res) {
    answer(res, m.image(req.matches[1]), 200, [](const ImageRecord& i) { return toJson(i); });
  });
  s.Get(R"(/api/v1/blobs/([^/]+))", [&cfg](const Request& req, Response& res) {
    std::string digest = req.matches[1];
    if (!cfg.blobs && !cfg.blobsElsewhere.empty())
      return replyError(res,
                        ApiError::notFound("this master keeps images in " + cfg.blobsElsewhere +
                                           ": workers fetch them from there (kuiga worker "
                                           "--s3-endpoint ...)"));
    if (!isDigest(digest) || !cfg.blobs || !fs::exists(cfg.blobs->blobPath(digest)))
      return replyError(res, ApiError::notFound("no blob " + digest));
    auto path = cfg.blobs->blobPath(digest);
    auto size = fs::file_size(path);
    auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
    res.set_content_provider(size, "application/octet-stream",
                             [in](size_t offset, size_t length, httplib::DataSink& sink) {
                               std::string buf(std::min<size_t>(length, 1 << 16), '\0');
                               in->seekg(static_cast<std::streamoff>(offset));
                               in->read(buf.data(), static_cast<std::streamsize>(buf.size()));
                               sink.write(buf.data(), static_cast<size_t>(in->gcount()));
                               return in->gcount() > 0;
                             });
  });

  // ---- runs ----
  s.Post("/api/v1/runs", [&m, readBody](const Request& req, Response& res,
                                        const httplib::ContentReader& reader) {
    Upload up;
    std::map<std::string, std::string> fields;
    std::string body;
    if (auto e = readBody(req, reader, up, fields, body)) return replyError(res, *e);
    if (req.is_multipart_form_data()) {
      if (!fields.contains("spec"))
        return replyError(res, ApiError::badRequest("no 'spec' part (the run spec as JSON)"));
      body = fields["spec"];
    }
    auto j = parseJson(body);
    if (!j) return replyError(res, j.error());
    auto spec = RunSpec::fromJson(*j);
    if (!spec) return replyError(res, ApiError::badRequest(spec.error().message));
    if (!up.path.empty()) {
      std::string profile = j->value("profile", "linux");
      if (!(*j)["profile"].is_null() && j->contains("profile") && !(*j)["profile"].is_string())
        return replyError(res, ApiError::badRequest("'profile' must be a string"));
      auto img = m.addImage(up.path, j->value("executable", up.fileName), profile);
      if (!img) return replyError(res, img.error());
      if (!spec->image.empty() && spec->image != img->digest)
        return replyError(res, ApiError::badRequest("both an upload and a different 'image'"));
      spec->image = img->digest;
    } else if (spec->image.empty()) {
      return replyError(
          res, ApiError::badRequest("give an 'image' digest, or upload the AUT as part 'aut'"));
    } else if (j->contains("profile")) {
      return replyError(
          res, ApiError::badRequest("'profile' belongs to an upload; the image already has one"));
    }
    answer(res, m.createRun(*spec), 201, [](const RunView& v) { return toJson(v); });
  });
  s.Get("/api/v1/runs", [&m](const Request&, Response& res) {
    answer(res, m.runs(), 200, [](const std::vector<RunView>& v) {
      json a = json::array();
      for (const auto& r : v) a.push_back(toJson(r));
      return a;
    });
  });
  s.Get(R"(/api/v1/runs/([^/]+))", [&m](const Request& req, Response& res) {
    auto id = runIdOf(req);
    if (!id) return replyError(res, id.error());
    answer(res, m.run(*id), 200, [](const RunView& v) { return toJson(v); });
  });
  auto action = [&m](ApiResult<RunView> (Master::*fn)(RunId)) {
    return [&m, fn](const Request& req, Response& res) {
      auto id = runIdOf(req);
      if (!id) return replyError(res, id.error());
      answer(res, (m.*fn)(*id), 202, [](const RunView& v) { return toJson(v); });
    };
  };
  s.Post(R"(/api/v1/runs/([^/]+)/start)", action(&Master::startRun));
  s.Post(R"(/api/v1/runs/([^/]+)/stop)", action(&Master::stopRun));
  s.Delete(R"(/api/v1/runs/([^/]+))", action(&Master::deleteRun));

  s.Get(R"(/api/v1/runs/([^/]+)/instances)", [&m](const Request& req, Response& res) {
    auto id = runIdOf(req);
    if (!id) return replyError(res, id.error());
    auto offset = number(
        req.get_param_value("offset").empty() ? "0" : req.get_param_value("offset"), UINT32_MAX);
    auto limit =
        number(req.get_param_value("limit").empty() ? "1000" : req.get_param_value("limit"), 10000);
    if (!offset || !limit || *limit == 0)
      return replyError(res,
                        ApiError::badRequest("'offset' must be 0 or more and 'limit' 1 to 10000"));
    auto r = m.instances(*id, req.get_param_value("state"), static_cast<uint32_t>(*offset),
                         static_cast<uint32_t>(*limit));
    answer(res, r, 200, [&](const std::vector<InstanceRecord>& v) {
      json items = json::array();
      for (const auto& i : v) items.push_back(toJson(i));
      return json{{"offset", *offset}, {"limit", *limit}, {"items", items}};
    });
  });
  s.Get(R"(/api/v1/runs/([^/]+)/instances/([^/]+))", [&m](const Request& req, Response& res) {
    auto id = instanceIdOf(req);
    if (!id) return replyError(res, id.error());
    answer(res, m.instance(*id), 200, [](const json& j) { return j; });
  });
  s.Post(
      R"(/api/v1/runs/([^/]+)/instances/([^/]+)/console)", [&m](const Request& req, Response& res) {
        auto id = instanceIdOf(req);
        if (!id) return replyError(res, id.error());
        auto j = parseJson(req.body);
        if (!j) return replyError(res, j.error());
        if (!j->is_object() || !j->contains("line") || !(*j)["line"].is_string())
          return replyError(res, ApiError::badRequest("send {\"line\": \"...\"}"));
        std::string line = (*j)["line"];
        if (line.find('\n') != std::string::npos || line.size() > 4096)
          return replyError(res, ApiError::badRequest("'line' is one line of at most 4096 bytes"));
        auto r = m.console(*id, line);
        if (!r) return replyError(res, r.error());
        reply(res, 200, {{"sent", true}});
      });
  // One line to many consoles (all of the run's by default), paced.
  s.Post(R"(/api/v1/runs/([^/]+)/console)", [&m](const Request& req, Response& res) {
    auto id = runIdOf(req);
    if (!id) return replyError(res, id.error());
    auto j = parseJson(req.body);
    if (!j) return replyError(res, j.error());
    if (!j->is_object() || !j->contains("line") || !(*j)["line"].is_string())
      return replyError(res, ApiError::badRequest(
                                 "send {\"line\": \"...\", \"instances\": [K, ...], \"rate\": N}"));
    std::string line = (*j)["line"];
    if (line.find('\n') != std::string::npos || line.size() > 4096)
      return replyError(res, ApiError::badRequest("'line' is one line of at most 4096 bytes"));
    std::vector<uint32_t> indexes;
    if (j->contains("instances")) {
      const auto& a = (*j)["instances"];
      if (!a.is_array() || a.size() > kMaxInstancesPerRun)
        return replyError(res, ApiError::badRequest("'instances' is an array of instance indexes"));
      for (const auto& k : a) {
        if (!k.is_number_unsigned())
          return replyError(res, ApiError::badRequest("'instances' holds instance indexes"));
        indexes.push_back(k.get<uint32_t>());
      }
    }
    uint32_t rate = 100;
    if (j->contains("rate")) {
      const auto& r = (*j)["rate"];
      if (!r.is_number_unsigned() || r.get<uint64_t>() < 1 || r.get<uint64_t>() > 10000)
        return replyError(res, ApiError::badRequest("'rate' is 1 to 10000 instances a second"));
      rate = r.get<uint32_t>();
    }
    auto n = m.consoleMany(*id, line, indexes, rate);
    if (!n) return replyError(res, n.error());
    reply(res, 202, {{"instances", *n}, {"rate", rate}});
  });
  s.Get(R"(/api/v1/runs/([^/]+)/jitter)", [&m](const Request& req, Response& res) {
    auto id = runIdOf(req);
    if (!id) return replyError(res, id.error());
    answer(res, m.jitter(*id), 200, [](const JitterReport& r) {
      json per = json::array();
      for (const auto& [idx, st] : r.perInstance) {
        auto j = toJson(st);
        j["index"] = idx;
        per.push_back(j);
      }
      return json{{"run", toJson(r.run)}, {"instances", per}, {"unit", "ms"}};
    });
  });

  // ---- logs ----
  // One instance: the raw log; ?follow=1 keeps the response open and streams what is added.
  s.Get(R"(/api/v1/runs/([^/]+)/instances/([^/]+)/logs)", [&m](const Request& req, Response& res) {
    auto id = instanceIdOf(req);
    if (!id) return replyError(res, id.error());
    if (auto inst = m.instance(*id); !inst) return replyError(res, inst.error());
    bool follow = req.get_param_value("follow") == "1";
    auto offset = std::make_shared<uint64_t>(0);
    auto first = m.readLogs({{*id, 0}}, 0);  // is its worker reachable?
    if (!first) return replyError(res, first.error());
    InstanceId iid = *id;
    res.set_chunked_content_provider(
        streamType(follow), [&m, iid, follow, offset](size_t, httplib::DataSink& sink) {
          for (;;) {
            auto r = m.readLogs({{iid, *offset}}, 1u << 20);
            if (!r || r->empty()) return sink.done(), true;
            const auto& ch = r->front();
            if (!ch.data.empty()) {
              *offset = ch.offset;
              if (!sink.write(ch.data.data(), ch.data.size())) return false;
              return true;
            }
            if (!follow) return sink.done(), true;
            if (!sink.is_writable()) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
          }
        });
  });
  // The whole run: every line as "<instance> <line>", ordered by the worker's receive time.
  s.Get(R"(/api/v1/runs/([^/]+)/logs)", [this, &m](const Request& req, Response& res) {
    auto id = runIdOf(req);
    if (!id) return replyError(res, id.error());
    auto insts = m.instances(*id, "", 0, UINT32_MAX);
    if (!insts) return replyError(res, insts.error());
    auto format = req.get_param_value("format");
    if (format == "tar.gz") return logArchive(res, *id, *insts);
    if (!format.empty() && format != "text")
      return replyError(res, ApiError::badRequest("'format' is text (the default) or tar.gz"));
    bool follow = req.get_param_value("follow") == "1";
    struct Cursor {
      LogCursor c;
      std::string partial;
    };
    auto cursors = std::make_shared<std::vector<Cursor>>();
    for (const auto& i : *insts)
      if (i.state != kDeleted) cursors->push_back({{i.id, 0}, {}});
    res.set_chunked_content_provider(
        streamType(follow), [&m, follow, cursors](size_t, httplib::DataSink& sink) {
          for (;;) {
            std::vector<std::pair<std::string, std::string>> lines;  // (line, instance)
            for (size_t from = 0; from < cursors->size(); from += 1000) {
              std::vector<LogCursor> batch;
              for (size_t k = from; k < std::min(cursors->size(), from + 1000); ++k)
                batch.push_back((*cursors)[k].c);
              // 64 KiB per instance and round: a round over 1,000 instances stays far below
              // the RPC message limit; lines are ordered by time within each round.
              auto r = m.readLogs(batch, 64u << 10);
              if (!r) continue;
              std::map<InstanceId, const LogChunk*> byId;
              for (const auto& ch : *r) byId[ch.id] = &ch;
              for (size_t k = from; k < std::min(cursors->size(), from + 1000); ++k) {
                auto& cur = (*cursors)[k];
                auto it = byId.find(cur.c.id);
                if (it == byId.end()) continue;
                cur.c.offset = it->second->offset;
                cur.partial += it->second->data;
                for (auto& l : takeLines(cur.partial))
                  lines.emplace_back(std::move(l), displayName(cur.c.id));
              }
            }
            // Lines start with an ISO-8601 receive time, so text order is time order.
            std::stable_sort(lines.begin(), lines.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
            std::string out;
            for (const auto& [l, name] : lines) {
              auto sp = l.find(' ');
              out += sp == std::string::npos ? name + " " + l + "\n"
                                             : l.substr(0, sp) + " " + name + l.substr(sp) + "\n";
            }
            if (!out.empty()) return sink.write(out.data(), out.size());
            if (!follow) return sink.done(), true;
            if (!sink.is_writable()) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
          }
        });
  });

  // The run's capture: each worker's part is a complete pcapng section (its files are too), so
  // their concatenation is one pcapng file with an interface per device.
  s.Get(R"(/api/v1/runs/([^/]+)/pcap)", [&m](const Request& req, Response& res) {
    auto id = runIdOf(req);
    if (!id) return replyError(res, id.error());
    auto workers = m.pcapWorkers(*id);
    if (!workers) return replyError(res, workers.error());
    std::optional<uint32_t> instance;
    if (req.has_param("instance")) {
      auto k = number(req.get_param_value("instance"), UINT32_MAX);
      if (!k) return replyError(res, ApiError::badRequest("'instance' must be an instance index"));
      instance = static_cast<uint32_t>(*k);
      if (auto inst = m.instance({*id, *instance}); !inst) return replyError(res, inst.error());
    }
    struct Cursor {
      std::vector<std::string> workers;
      size_t worker = 0;
      uint64_t offset = 0;
      std::string first;  // bytes read to decide between 200 and 404
    };
    auto cur = std::make_shared<Cursor>();
    cur->workers = *workers;
    std::string unreachable;
    for (; cur->worker < cur->workers.size(); ++cur->worker) {
      auto r = m.readPcap(cur->workers[cur->worker], *id, 0, 1u << 20, instance);
      if (!r) {
        unreachable = r.error().message;
        continue;
      }
      if (r->first.empty()) continue;
      cur->first = std::move(r->first);
      cur->offset = cur->first.size();
      if (r->second) ++cur->worker, cur->offset = 0;  // that worker's part was all of it
      break;
    }
    if (cur->first.empty()) {
      if (!unreachable.empty())
        return replyError(res, {502, "worker_unavailable", "capture unavailable: " + unreachable});
      return replyError(res, ApiError::notFound(fmt::format(
                                 "no frames captured for run {} (its devices have no radio "
                                 "network, or have not sent anything yet)",
                                 *id)));
    }
    RunId rid = *id;
    res.set_header("Content-Disposition",
                   fmt::format("attachment; filename=\"{}.pcapng\"",
                               instance ? hostname({rid, *instance}) : fmt::format("run-{}", rid)));
    res.set_chunked_content_provider(
        "application/vnd.tcpdump.pcap", [&m, cur, rid, instance](size_t, httplib::DataSink& sink) {
          if (!cur->first.empty()) {
            std::string first = std::move(cur->first);
            cur->first.clear();
            return sink.write(first.data(), first.size());
          }
          while (cur->worker < cur->workers.size()) {
            auto r = m.readPcap(cur->workers[cur->worker], rid, cur->offset, 1u << 20, instance);
            if (r && !r->first.empty()) {
              cur->offset += r->first.size();
              // A worker's part ends where its capture ended when it was read: frames
              // captured later belong to the next download, so a busy run still ends.
              if (r->second) ++cur->worker, cur->offset = 0;
              return sink.write(r->first.data(), r->first.size());
            }
            // This worker's part is complete (or out of reach): go on with the next one.
            ++cur->worker;
            cur->offset = 0;
          }
          sink.done();
          return true;
        });
  });

  s.Get(R"(/api/v1/runs/([^/]+)/radio/leases)", [&m](const Request& req, Response& res) {
    auto id = runIdOf(req);
    if (!id) return replyError(res, id.error());
    auto text = m.leases(*id);
    if (!text) return replyError(res, text.error());
    res.status = 200;
    res.set_content(*text, "text/plain; charset=utf-8");
  });

  s.Get(R"(/api/v1/runs/([^/]+)/radio)", [&m](const Request& req, Response& res) {
    auto id = runIdOf(req);
    if (!id) return replyError(res, id.error());
    answer(res, m.radio(*id), 200, [](const json& j) { return j; });
  });

  s.Get("/api/v1/workers", [&m](const Request&, Response& res) {
    answer(res, m.workers(), 200, [](const std::vector<WorkerView>& v) {
      json a = json::array();
      for (const auto& w : v) a.push_back(toJson(w));
      return a;
    });
  });

  // Server-sent events: run views and batches of instance state changes.
  s.Get("/api/v1/events", [&m](const Request&, Response& res) {
    auto feed = std::make_shared<EventFeed>();
    uint64_t sub = m.subscribe([feed](const MasterEvent& ev) {
      std::lock_guard lock(feed->mu);
      if (feed->items.size() > 10000) {
        feed->overflow = true;  // a client that does not read loses events, and is told so
        return;
      }
      feed->items.push_back(fmt::format("event: {}\ndata: {}\n\n", ev.kind, ev.data.dump()));
      feed->cv.notify_one();
    });
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [feed](size_t, httplib::DataSink& sink) {
          std::unique_lock lock(feed->mu);
          feed->cv.wait_for(lock, std::chrono::seconds(10), [&] { return !feed->items.empty(); });
          std::string out;
          if (feed->overflow) {
            out = "event: overflow\ndata: {}\n\n";
            feed->overflow = false;
          }
          while (!feed->items.empty()) {
            out += feed->items.front();
            feed->items.pop_front();
          }
          lock.unlock();
          if (out.empty()) out = ": keepalive\n\n";
          return sink.write(out.data(), out.size());
        },
        [&m, sub](bool) { m.unsubscribe(sub); });
  });
}

}  // namespace kuiga::master
