#include "worker/docker/engine.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <mutex>

#include <fmt/format.h>

namespace kuiga::worker::docker {

namespace {

void initCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t collect(char* data, size_t size, size_t n, void* p) {
  static_cast<std::string*>(p)->append(data, size * n);
  return size * n;
}

struct FileBody {
  int fd = -1;
};

size_t readFile(char* buf, size_t size, size_t n, void* p) {
  auto* f = static_cast<FileBody*>(p);
  ssize_t got;
  do {
    got = ::read(f->fd, buf, size * n);
  } while (got < 0 && errno == EINTR);
  return got < 0 ? CURL_READFUNC_ABORT : static_cast<size_t>(got);
}

// Compares dotted versions numerically ("1.41" < "1.9" is false).
bool versionLess(const std::string& a, const std::string& b) {
  unsigned a1 = 0, a2 = 0, b1 = 0, b2 = 0;
  std::sscanf(a.c_str(), "%u.%u", &a1, &a2);
  std::sscanf(b.c_str(), "%u.%u", &b1, &b2);
  return a1 != b1 ? a1 < b1 : a2 < b2;
}

}  // namespace

std::string Response::message() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string())
    return j["message"].get<std::string>();
  return body;
}

nlohmann::json Response::json() const {
  return nlohmann::json::parse(body, nullptr, false);
}

std::string queryEscape(const std::string& s) {
  initCurl();
  char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

Error engineError(const std::string& what, const Response& r) {
  return Error::msg(fmt::format("{}: the engine answered {}: {}", what, r.status, r.message()));
}

std::string Engine::url(const std::string& path) const {
  return "http://docker/v" + version_ + path;
}

Result<Engine> Engine::connect(const std::string& socketPath) {
  struct stat st {};
  if (::stat(socketPath.c_str(), &st) != 0)
    return failSys(fmt::format(
        "no Docker engine socket at '{}' (is dockerd or `podman system service` running?)",
        socketPath));
  if (!S_ISSOCK(st.st_mode)) return failMsg("'" + socketPath + "' is not a unix socket");
  Engine e(socketPath);
  // Unversioned first (an empty version_ means no prefix): the engine says which API
  // versions it speaks.
  e.version_.clear();
  auto v = e.call("GET", "/version", std::nullopt, 10);
  if (!v) return fail(v.error().context("reach the Docker engine at " + socketPath));
  if (v->status != 200) return fail(engineError("GET /version at " + socketPath, *v));
  auto j = v->json();
  if (!j.is_object()) return failMsg("GET /version at " + socketPath + ": not JSON: " + v->body);
  std::string api = j.value("ApiVersion", "");
  std::string minApi = j.value("MinAPIVersion", "1.12");
  if (api.empty()) return failMsg("GET /version at " + socketPath + ": no ApiVersion");
  if (versionLess(kMaxApiVersion, minApi))
    return failMsg(fmt::format("the engine at {} needs API {} or later; this client speaks {}",
                               socketPath, minApi, kMaxApiVersion));
  e.version_ = versionLess(api, kMaxApiVersion) ? api : kMaxApiVersion;
  e.engineVersion_ = j.value("Version", "");
  e.engineName_ = j.contains("Components") && j["Components"].is_array() && !j["Components"].empty()
                      ? j["Components"][0].value("Name", "Engine")
                      : "Engine";
  return e;
}

static Result<Response> perform(CURL* h, const std::string& what, std::string& body) {
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) return failMsg(what + ": " + curl_easy_strerror(rc));
  Response r;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  r.body = std::move(body);
  return r;
}

Result<Response> Engine::call(const std::string& method, const std::string& path,
                              const std::optional<nlohmann::json>& body,
                              long timeoutSeconds) const {
  initCurl();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return failMsg("libcurl: cannot make a handle");
  CURL* h = curl.get();
  std::string target = version_.empty() ? "http://docker" + path : url(path);
  std::string out, payload;
  curl_slist* headers = nullptr;
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> guard(nullptr, curl_slist_free_all);
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(h, CURLOPT_URL, target.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, timeoutSeconds);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
  if (method == "HEAD")
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  else if (method != "GET")
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (body) {
    payload = body->dump();
    headers = curl_slist_append(headers, "Content-Type: application/json");
    guard.reset(headers);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
  } else if (method == "POST") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t{0});
  }
  return perform(h, method + " " + path, out);
}

Result<Response> Engine::postFile(const std::string& path, const std::string& file,
                                  const std::string& contentType, long timeoutSeconds) const {
  initCurl();
  FileBody in{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) return failSys("open '" + file + "'");
  struct stat st {};
  ::fstat(in.fd, &st);
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  CURL* h = curl.get();
  std::string target = url(path), out;
  curl_slist* headers = curl_slist_append(nullptr, ("Content-Type: " + contentType).c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> guard(headers, curl_slist_free_all);
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(h, CURLOPT_URL, target.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, timeoutSeconds);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, readFile);
  curl_easy_setopt(h, CURLOPT_READDATA, &in);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(st.st_size));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
  auto r = perform(h, "POST " + path, out);
  ::close(in.fd);
  return r;
}

}  // namespace kuiga::worker::docker
