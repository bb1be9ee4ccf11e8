// Logs: one instance's, the run's merged by time, and the run's as a tar.gz; each is read from
// the workers a piece at a time as the client takes it, and the followed ones poll for more.
#include <fmt/format.h>

#include "master/api/api_common.hpp"
#include "master/log_archive.hpp"

namespace kuiga::master::api {

namespace {

using std::chrono::milliseconds;

// A followed log goes out as octet-stream: a browser shows text/plain only once it has a
// block's worth, so a followed log would reach it seconds late.
const char* streamType(bool follow) {
  return follow ? "application/octet-stream" : "text/plain; charset=utf-8";
}

class InstanceLog final : public http::Source {
 public:
  InstanceLog(RunService& m, InstanceId id, bool follow) : m_(m), id_(id), follow_(follow) {}
  Pull pull(std::string& out) override {
    auto r = m_.readLogs({{id_, offset_}}, 1u << 20);
    if (!r || r->empty()) return done();  // its worker is gone: the log ends here
    const auto& ch = r->front();
    if (ch.data.empty()) return follow_ ? wait(milliseconds(300)) : done();
    offset_ = ch.offset;
    out += ch.data;
    return more();
  }

 private:
  RunService& m_;
  InstanceId id_;
  bool follow_;
  uint64_t offset_ = 0;
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

// Every line as "<time> <instance> <line>", ordered by the workers' receive time in each round.
class MergedLog final : public http::Source {
 public:
  MergedLog(RunService& m, const std::vector<InstanceRecord>& insts, bool follow)
      : m_(m), follow_(follow) {
    for (const auto& i : insts) cursors_.push_back({{i.id, 0}, {}});
  }
  Pull pull(std::string& out) override {
    std::vector<std::pair<std::string, std::string>> lines;  // (line, instance)
    for (size_t from = 0; from < cursors_.size(); from += 1000) {
      size_t to = std::min(cursors_.size(), from + 1000);
      std::vector<LogCursor> batch;
      for (size_t k = from; k < to; ++k) batch.push_back(cursors_[k].c);
      // 64 KiB per instance and round keeps a round over 1,000 instances far below the RPC
      // message limit.
      auto r = m_.readLogs(batch, 64u << 10);
      if (!r) continue;
      std::map<InstanceId, const LogChunk*> byId;
      for (const auto& ch : *r) byId[ch.id] = &ch;
      for (size_t k = from; k < to; ++k) {
        auto& cur = cursors_[k];
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
    for (const auto& [l, name] : lines) {
      auto sp = l.find(' ');
      out += sp == std::string::npos ? name + " " + l + "\n"
                                     : l.substr(0, sp) + " " + name + l.substr(sp) + "\n";
    }
    if (!out.empty()) return more();
    return follow_ ? wait(milliseconds(500)) : done();
  }

 private:
  struct Cursor {
    LogCursor c;
    std::string partial;
  };
  RunService& m_;
  bool follow_;
  std::vector<Cursor> cursors_;
};

// The run's logs as a tar.gz, one file per instance ("run-R/dev-NNNN.log"), 200 instances per
// pull, so 10,000 logs never sit in memory together. Instances whose worker cannot be reached
// are listed in "run-R/UNAVAILABLE.txt" rather than left out silently.
class LogArchiveSource final : public http::Source {
 public:
  LogArchiveSource(RunService& m, RunId run, std::unique_ptr<LogArchive> a,
                   const std::vector<InstanceRecord>& insts)
      : m_(m), run_(run), archive_(std::move(a)) {
    for (const auto& i : insts) ids_.push_back(i.id);
  }
  Pull pull(std::string& out) override {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    if (next_ < ids_.size()) {
      size_t end = std::min(ids_.size(), next_ + 200);
      auto data = readBatch(next_, end);
      for (size_t k = next_; k < end; ++k)
        if (!archive_->add(displayName(ids_[k]) + ".log", data[ids_[k]], now)) return done();
      next_ = end;
      out += archive_->take();
      return more();
    }
    if (!unavailable_.empty())
      (void)archive_->add(fmt::format("run-{}/UNAVAILABLE.txt", run_), unavailable_, now);
    (void)archive_->finish();
    out += archive_->take();
    return done();
  }

 private:
  // Rounds of 1 MiB per instance until every log of the batch has been read to its end.
  std::map<InstanceId, std::string> readBatch(size_t from, size_t to) {
    std::map<InstanceId, std::string> data;
    std::map<InstanceId, uint64_t> offset;
    for (size_t k = from; k < to; ++k) offset[ids_[k]] = 0;
    while (!offset.empty()) {
      std::vector<LogCursor> cursors;
      for (const auto& [iid, off] : offset) cursors.push_back({iid, off});
      auto r = m_.readLogs(cursors, 1u << 20);
      std::map<InstanceId, const LogChunk*> got;
      if (r)
        for (const auto& ch : *r) got[ch.id] = &ch;
      for (auto it = offset.begin(); it != offset.end();) {
        auto g = got.find(it->first);
        if (g == got.end()) {
          unavailable_ += fmt::format(
              "{}: {} (log {})\n", displayName(it->first),
              r ? std::string("its worker did not answer") : r.error().message,
              it->second == 0 ? "missing" : "cut at byte " + std::to_string(it->second));
          it = offset.erase(it);
        } else if (g->second->data.empty()) {
          it = offset.erase(it);
        } else {
          data[it->first] += g->second->data;
          it->second = g->second->offset;
          ++it;
        }
      }
    }
    return data;
  }
  RunService& m_;
  RunId run_;
  std::unique_ptr<LogArchive> archive_;
  std::vector<InstanceId> ids_;
  size_t next_ = 0;
  std::string unavailable_;
};

http::Response stream(std::shared_ptr<http::Source> s, std::string type) {
  http::Response r;
  r.type = std::move(type);
  r.source = std::move(s);
  return r;
}

http::Response runLogs(RunService& m, const http::Request& req) {
  auto id = runIdOf(req);
  if (!id) return replyError(id.error());
  auto insts = m.instances(*id, "", 0, UINT32_MAX);
  if (!insts) return replyError(insts.error());
  // A deleted run's logs are read only when they were kept; a live run's deleted instances
  // (rescheduled away) are not its devices any more.
  auto run = m.run(*id);
  if (!run) return replyError(run.error());
  if (run->run.state == RunState::Deleted && run->run.logs != "kept")
    return replyError(ApiError::notFound(fmt::format(
        "run {}'s logs were removed with it (keep them with DELETE ...?keep_logs=1)", *id)));
  if (run->run.state != RunState::Deleted)
    std::erase_if(*insts, [](const InstanceRecord& i) { return i.state == kDeleted; });
  auto format = req.arg("format");
  if (format == "tar.gz") {
    auto archive = LogArchive::open();
    if (!archive) return replyError(ApiError::internal(archive.error().message));
    auto r = stream(std::make_shared<LogArchiveSource>(m, *id, std::move(*archive), *insts),
                    "application/gzip");
    r.headers.emplace_back("Content-Disposition",
                           fmt::format("attachment; filename=\"run-{}-logs.tar.gz\"", *id));
    return r;
  }
  if (!format.empty() && format != "text")
    return replyError(ApiError::badRequest("'format' is text (the default) or tar.gz"));
  bool follow = req.arg("follow") == "1";
  return stream(std::make_shared<MergedLog>(m, *insts, follow), streamType(follow));
}

}  // namespace

Routes logRoutes(Context& c) {
  using namespace doc;
  RunService& m = c.runs;
  json follow = param("follow", "query", "integer", false);
  json text = {{"description", "text"},
               {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}};
  Routes r;
  // One instance: the raw log; ?follow=1 keeps the response open and streams what is added.
  r.push_back({"GET", "/api/v1/runs/{id}/instances/{index}/logs", Role::User, Scope::Run,
               op("The instance's log", with({{"200", text}}, {404, 502}),
                  {{"parameters", {runId(), instanceIndex(), follow}}}),
               [&m](http::Request& req, const Caller&) {
                 auto id = instanceIdOf(req);
                 if (!id) return replyError(id.error());
                 if (auto inst = m.instance(*id); !inst) return replyError(inst.error());
                 if (auto first = m.readLogs({{*id, 0}}, 0); !first)  // its worker reachable?
                   return replyError(first.error());
                 bool follow = req.arg("follow") == "1";
                 return stream(std::make_shared<InstanceLog>(m, *id, follow), streamType(follow));
               }});
  r.push_back({"GET", "/api/v1/runs/{id}/logs", Role::User, Scope::Run,
               op("Every instance's log, merged by time; format=tar.gz: a tar.gz of one file "
                  "per instance",
                  with({{"200", text}}, {400, 404}),
                  {{"parameters", {runId(), follow, param("format", "query", "string", false)}}}),
               [&m](http::Request& req, const Caller&) { return runLogs(m, req); }});
  return r;
}

}  // namespace kuiga::master::api
