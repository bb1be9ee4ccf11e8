#include "imagestore/s3_store.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <strings.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <tinyxml2.h>

#include "common/digest.hpp"

namespace kuiga::imagestore {

namespace fs = std::filesystem;

// SHA-256 of no bytes: the payload hash of GET, HEAD and DELETE.
static constexpr const char* kEmptyHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static void initCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// ---- configuration ----

static std::string trim(std::string s) {
  auto notSpace = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), notSpace));
  s.erase(std::find_if(s.rbegin(), s.rend(), notSpace).base(), s.end());
  return s;
}

Result<S3Credentials> loadS3Credentials(const std::string& file, const std::string& profile) {
  S3Credentials c;
  if (file.empty()) {
    const char* key = std::getenv("AWS_ACCESS_KEY_ID");
    const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
    if (!key || !*key || !secret || !*secret)
      return failMsg(
          "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a "
          "credentials file");
    return S3Credentials{key, secret};
  }
  std::ifstream in(file);
  if (!in) return failSys("open S3 credentials file '" + file + "'");
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0 && (st.st_mode & S_IROTH))
    spdlog::warn("S3 credentials file '{}' is readable by every user; chmod 600 it", file);
  std::string line, section;
  int lineNo = 0;
  bool found = false;
  while (std::getline(in, line)) {
    ++lineNo;
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']')
        return failMsg(fmt::format("{}:{}: a section header ends with ']'", file, lineNo));
      section = trim(line.substr(1, line.size() - 2));
      if (section.rfind("profile ", 0) == 0) section = trim(section.substr(8));
      found = found || section == profile;
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos)
      return failMsg(fmt::format("{}:{}: expected 'name = value'", file, lineNo));
    if (section != profile) continue;
    std::string name = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (name == "aws_access_key_id") c.accessKey = value;
    if (name == "aws_secret_access_key") c.secretKey = value;
  }
  if (!found) return failMsg(fmt::format("no profile [{}] in '{}'", profile, file));
  if (c.accessKey.empty() || c.secretKey.empty())
    return failMsg(fmt::format(
        "profile [{}] in '{}' needs aws_access_key_id and aws_secret_access_key", profile, file));
  return c;
}

// Bucket names as S3 allows them: 3 to 63 of a-z 0-9 . -, starting and ending alphanumeric.
static bool validBucket(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char ch : b)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
      return false;
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  return alnum(b.front()) && alnum(b.back());
}

namespace {
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

std::string urlPart(CURLU* u, CURLUPart part) {
  char* s = nullptr;
  if (curl_url_get(u, part, &s, 0) != CURLUE_OK || !s) return "";
  std::string out = s;
  curl_free(s);
  return out;
}
}  // namespace

VoidResult validate(const S3Config& c) {
  initCurl();
  UrlPtr u(curl_url());
  if (c.endpoint.empty()) return failMsg("S3: no endpoint URL");
  if (curl_url_set(u.get(), CURLUPART_URL, c.endpoint.c_str(), 0) != CURLUE_OK)
    return failMsg("S3 endpoint '" + c.endpoint + "' is not a URL");
  std::string scheme = urlPart(u.get(), CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https")
    return failMsg("S3 endpoint '" + c.endpoint + "' must be http:// or https://");
  std::string path = urlPart(u.get(), CURLUPART_PATH);
  if (!path.empty() && path != "/")
    return failMsg("S3 endpoint '" + c.endpoint +
                   "' must not have a path (the bucket is --s3-bucket)");
  if (!validBucket(c.bucket))
    return failMsg("S3 bucket name '" + c.bucket +
                   "' is not valid (3 to 63 of a-z, 0-9, '.', '-', starting and ending with a "
                   "letter or digit)");
  if (c.region.empty()) return failMsg("S3: no region");
  if (c.credentials.accessKey.empty() || c.credentials.secretKey.empty())
    return failMsg("S3: no credentials");
  if (c.partSize < (5ull << 20)) return failMsg("S3 part size must be at least 5 MiB");
  if (c.multipartThreshold < c.partSize)
    return failMsg("S3 multipart threshold must be at least the part size");
  if (c.attempts < 1) return failMsg("S3 attempts must be at least 1");
  return {};
}

// ---- one request ----

struct S3ImageStore::Reply {
  long status = 0;
  std::string body;  // error documents and small XML answers
  std::string etag;
};

struct S3ImageStore::Transfer {
  std::string method = "GET";
  std::string key;          // empty: the bucket itself
  std::string query;        // canonical already: sorted, percent-encoded, "uploads="
  std::string payloadHash;  // hex SHA-256 of the body
  std::string contentType;
  // The body: a range of a file, or bytes.
  int inFd = -1;
  uint64_t inOffset = 0;
  uint64_t inLength = 0;
  std::string inBytes;
  // Where a 2xx answer's body goes: a file (hashed on the way), or `text`.
  int outFd = -1;
  std::unique_ptr<Sha256> outHash;

  // Per attempt.
  CURL* curl = nullptr;
  uint64_t sent = 0;
  uint64_t received = 0;
  bool writeFailed = false;
  int writeErrno = 0;
  std::string text;
  std::string etag;
};

static size_t onRead(char* buf, size_t size, size_t n, void* p) {
  auto* t = static_cast<S3ImageStore::Transfer*>(p);
  size_t want = std::min<uint64_t>(size * n, t->inLength - t->sent);
  if (want == 0) return 0;
  if (t->inFd < 0) {
    std::memcpy(buf, t->inBytes.data() + t->sent, want);
    t->sent += want;
    return want;
  }
  ssize_t got;
  do {
    got = ::pread(t->inFd, buf, want, static_cast<off_t>(t->inOffset + t->sent));
  } while (got < 0 && errno == EINTR);
  if (got <= 0) return CURL_READFUNC_ABORT;  // the file shrank or broke under us
  t->sent += static_cast<uint64_t>(got);
  return static_cast<size_t>(got);
}

static size_t onWrite(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<S3ImageStore::Transfer*>(p);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300 && t->outFd >= 0) {
    size_t off = 0;
    while (off < len) {
      ssize_t w = ::write(t->outFd, data + off, len - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        t->writeFailed = true;
        t->writeErrno = errno;
        return 0;
      }
      off += static_cast<size_t>(w);
    }
    t->outHash->update(data, len);
  } else if (t->text.size() < (1u << 20)) {
    t->text.append(data, len);
  }
  t->received += len;
  return len;
}

static size_t onHeader(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<S3ImageStore::Transfer*>(p);
  std::string_view h(data, size * n);
  if (h.size() > 5 && strncasecmp(h.data(), "etag:", 5) == 0)
    t->etag = trim(std::string(h.substr(5)));
  return size * n;
}

std::string S3ImageStore::url(const std::string& key, const std::string& query) const {
  UrlPtr u(curl_url());
  curl_url_set(u.get(), CURLUPART_URL, config_.endpoint.c_str(), 0);
  std::string path;
  if (config_.addressing == S3Addressing::VirtualHost) {
    std::string host = urlPart(u.get(), CURLUPART_HOST);
    curl_url_set(u.get(), CURLUPART_HOST, (config_.bucket + "." + host).c_str(), 0);
    path = "/" + key;
  } else {
    path = "/" + config_.bucket + (key.empty() ? "" : "/" + key);
  }
  curl_url_set(u.get(), CURLUPART_PATH, path.c_str(), 0);
  std::string out = urlPart(u.get(), CURLUPART_URL);
  // The query is appended as built: curl 7.88 signs it as it stands, so it must already be in
  // canonical order with encoded values (a CURLU query could be re-encoded).
  if (!query.empty()) out += "?" + query;
  return out;
}

static bool retriable(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

static std::string xmlChild(const std::string& xml, const char* root, const char* child) {
  tinyxml2::XMLDocument doc;
  if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) return "";
  auto* r = doc.FirstChildElement(root);
  auto* c = r ? r->FirstChildElement(child) : nullptr;
  return c && c->GetText() ? c->GetText() : "";
}

// What went wrong, in the words a user can act on.
static std::string explain(long status, const std::string& body, const S3Config& c) {
  std::string code = xmlChild(body, "Error", "Code");
  std::string message = xmlChild(body, "Error", "Message");
  std::string detail =
      code.empty() ? "" : " (" + code + (message.empty() ? "" : ": " + message) + ")";
  if (code == "InvalidAccessKeyId")
    return "S3 does not know this access key: wrong credentials" + detail;
  if (code == "SignatureDoesNotMatch")
    return "S3 refused the request's signature: wrong secret key, or the wrong region" + detail;
  if (code == "AccessDenied" || (status == 403 && code.empty()))
    return "S3 denied access: these credentials may not do this in bucket '" + c.bucket + "'" +
           detail;
  if (code == "NoSuchBucket")
    return "bucket '" + c.bucket + "' does not exist at " + c.endpoint + detail;
  if (code == "NoSuchKey" || (status == 404 && code.empty())) return "no such object (HTTP 404)";
  return fmt::format("S3 answered HTTP {}{}", status, detail);
}

Result<S3ImageStore::Reply> S3ImageStore::send(Transfer& t) {
  initCurl();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return failMsg("libcurl: cannot make a handle");
  CURL* h = curl.get();
  t.curl = h;
  std::string target = url(t.key, t.query);
  std::string what = fmt::format("{} s3://{}/{}", t.method, config_.bucket, t.key);
  std::string sigv4 = fmt::format("aws:amz:{}:s3", config_.region);
  curl_slist* headers = nullptr;
  // Ceph RGW answers 403 to a SigV4 request without x-amz-content-sha256; curl 7.88 signs the
  // header when it is given.
  headers = curl_slist_append(
      headers,
      ("x-amz-content-sha256: " + (t.payloadHash.empty() ? kEmptyHash : t.payloadHash)).c_str());
  // No "Expect:" to switch 100-continue off: curl 7.88 would sign the empty header and the
  // store would refuse the signature.
  if (!t.contentType.empty())
    headers = curl_slist_append(headers, ("Content-Type: " + t.contentType).c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headerGuard(headers, curl_slist_free_all);

  curl_easy_setopt(h, CURLOPT_URL, target.c_str());
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4.c_str());
  // Not CURLOPT_USERPWD: secret keys may contain ':'.
  curl_easy_setopt(h, CURLOPT_USERNAME, config_.credentials.accessKey.c_str());
  curl_easy_setopt(h, CURLOPT_PASSWORD, config_.credentials.secretKey.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connectTimeout.count()));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(config_.stallTimeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onWrite);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  if (!config_.caFile.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, config_.caFile.c_str());
  if (t.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (t.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, onRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.inLength));
  } else if (t.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, t.inBytes.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.inBytes.size()));
  } else if (t.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, t.method.c_str());
  }

  std::string lastProblem;
  auto delay = config_.backoff;
  for (int attempt = 1;; ++attempt) {
    t.sent = 0;
    t.received = 0;
    t.writeFailed = false;
    t.text.clear();
    t.etag.clear();
    if (t.outFd >= 0) {
      if (::ftruncate(t.outFd, 0) != 0 || ::lseek(t.outFd, 0, SEEK_SET) != 0)
        return failSys(what + ": reset the download file");
      t.outHash = std::make_unique<Sha256>();
    }
    ++requests_;
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (t.writeFailed) return failSys(what + ": write the download", t.writeErrno);
    if (rc == CURLE_OK && status < 500 && status != 429) return Reply{status, t.text, t.etag};
    if (rc != CURLE_OK) {
      if (rc == CURLE_PARTIAL_FILE) {
        curl_off_t expected = -1;
        curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected);
        lastProblem =
            fmt::format("the transfer was interrupted after {} of {} bytes", t.received, expected);
      } else {
        lastProblem = curl_easy_strerror(rc);
      }
      if (!retriable(rc)) return failMsg(fmt::format("{} ({}): {}", what, target, lastProblem));
    } else {
      lastProblem = explain(status, t.text, config_);
    }
    if (attempt >= config_.attempts)
      return failMsg(fmt::format("{} ({}): {}; gave up after {} attempt{}", what, target,
                                 lastProblem, attempt, attempt == 1 ? "" : "s"));
    spdlog::warn("{}: {}; retrying in {} ms (attempt {} of {})", what, lastProblem, delay.count(),
                 attempt + 1, config_.attempts);
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

// ---- the store ----

static std::string objectKey(const std::string& digest) {
  return "sha256/" + digest.substr(7);
}

std::string S3ImageStore::describe() const {
  return fmt::format("S3 bucket '{}' at {} ({}-style)", config_.bucket, config_.endpoint,
                     config_.addressing == S3Addressing::Path ? "path" : "virtual-host");
}

Result<std::unique_ptr<S3ImageStore>> S3ImageStore::open(S3Config config) {
  KUIGA_TRY(validate(config), "S3 image store");
  std::unique_ptr<S3ImageStore> s(new S3ImageStore(std::move(config)));
  Transfer t;
  t.method = "HEAD";
  auto r = s->send(t);
  if (!r) return fail(r.error());
  // HEAD answers carry no error document: name the likely cause by status.
  if (r->status == 404)
    return failMsg(
        fmt::format("bucket '{}' does not exist at {}", s->config_.bucket, s->config_.endpoint));
  if (r->status == 403)
    return failMsg(fmt::format(
        "S3 refused these credentials for bucket '{}' at {} (HTTP 403): wrong access key or "
        "secret, or no right to read the bucket",
        s->config_.bucket, s->config_.endpoint));
  if (r->status != 200)
    return failMsg(fmt::format("HEAD bucket '{}' at {}: HTTP {}", s->config_.bucket,
                               s->config_.endpoint, r->status));
  return s;
}

VoidResult S3ImageStore::createBucket(const S3Config& config) {
  KUIGA_TRY(validate(config), "S3 image store");
  S3ImageStore s(config);
  Transfer t;
  t.method = "PUT";
  auto r = s.send(t);
  if (!r) return fail(r.error());
  if (r->status != 200)
    return failMsg(
        fmt::format("create bucket '{}': {}", config.bucket, explain(r->status, r->body, config)));
  return {};
}

Result<bool> S3ImageStore::has(const std::string& digest) {
  if (!isDigest(digest)) return failMsg("bad digest '" + digest + "'");
  Transfer t;
  t.method = "HEAD";
  t.key = objectKey(digest);
  auto r = send(t);
  if (!r) return fail(r.error());
  if (r->status == 200) return true;
  if (r->status == 404) return false;
  return failMsg(fmt::format("HEAD s3://{}/{}: {}", config_.bucket, t.key,
                             explain(r->status, r->body, config_)));
}

namespace {
struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

VoidResult S3ImageStore::put(const std::string& digest, const std::string& srcPath) {
  if (!isDigest(digest)) return failMsg("bad digest '" + digest + "'");
  auto got = sha256File(srcPath);
  if (!got) return fail(got.error());
  if (*got != digest)
    return failMsg(fmt::format("'{}' has digest {}, not {}: refused", srcPath, *got, digest));
  auto exists = has(digest);
  if (!exists) return fail(exists.error().context("store blob " + digest));
  if (*exists) return {};  // content addressing: stored once
  std::error_code ec;
  uint64_t size = fs::file_size(srcPath, ec);
  if (ec) return failMsg(fmt::format("size of '{}': {}", srcPath, ec.message()));
  std::string key = objectKey(digest);
  if (size > config_.multipartThreshold)
    KUIGA_TRY(putMultipart(key, srcPath, size), "store blob " + digest + " in " + describe());
  else
    KUIGA_TRY(putSingle(key, srcPath, size, digest), "store blob " + digest + " in " + describe());
  return {};
}

VoidResult S3ImageStore::putSingle(const std::string& key, const std::string& srcPath,
                                   uint64_t size, const std::string& digest) {
  FdGuard in{::open(srcPath.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) return failSys("open '" + srcPath + "'");
  Transfer t;
  t.method = "PUT";
  t.key = key;
  t.inFd = in.fd;
  t.inLength = size;
  t.payloadHash = digest.substr(7);  // the store checks the body against it
  t.contentType = "application/octet-stream";
  auto r = send(t);
  if (!r) return fail(r.error());
  if (r->status != 200)
    return failMsg(fmt::format("PUT s3://{}/{}: {}", config_.bucket, key,
                               explain(r->status, r->body, config_)));
  return {};
}

static Result<std::string> sha256Range(int fd, uint64_t offset, uint64_t length) {
  Sha256 h;
  std::vector<char> buf(1 << 16);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, buf.data(), std::min<uint64_t>(buf.size(), length - done),
                        static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failSys("read a part");
    if (n == 0) return failMsg("the file shrank while it was uploaded");
    h.update(buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  return h.finish().substr(7);
}

static std::string xmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

static std::string escapeQueryValue(const std::string& v) {
  char* e = curl_easy_escape(nullptr, v.c_str(), static_cast<int>(v.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

VoidResult S3ImageStore::putMultipart(const std::string& key, const std::string& srcPath,
                                      uint64_t size) {
  FdGuard in{::open(srcPath.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) return failSys("open '" + srcPath + "'");
  std::string where = fmt::format("s3://{}/{}", config_.bucket, key);
  Transfer init;
  init.method = "POST";
  init.key = key;
  init.query = "uploads=";  // a bare flag, written with '=' as SigV4 signs it
  init.contentType = "application/octet-stream";
  auto started = send(init);
  if (!started) return fail(started.error());
  if (started->status != 200)
    return failMsg(fmt::format("start a multipart upload of {}: {}", where,
                               explain(started->status, started->body, config_)));
  std::string uploadId = xmlChild(started->body, "InitiateMultipartUploadResult", "UploadId");
  if (uploadId.empty())
    return failMsg("start a multipart upload of " + where + ": the answer names no UploadId");
  std::string idQuery = "uploadId=" + escapeQueryValue(uploadId);

  auto abort = [&](Error e) -> VoidResult {
    Transfer t;
    t.method = "DELETE";
    t.key = key;
    t.query = idQuery;
    if (auto r = send(t); !r || (r->status != 204 && r->status != 200))
      spdlog::warn("abort the multipart upload of {}: {}", where,
                   r ? explain(r->status, r->body, config_) : r.error().message);
    return fail(std::move(e));
  };

  std::string complete = "<CompleteMultipartUpload>";
  int part = 0;
  for (uint64_t offset = 0; offset < size; offset += config_.partSize) {
    ++part;
    uint64_t length = std::min<uint64_t>(config_.partSize, size - offset);
    auto hash = sha256Range(in.fd, offset, length);
    if (!hash) return abort(hash.error().context(srcPath));
    Transfer t;
    t.method = "PUT";
    t.key = key;
    // Canonical order: partNumber sorts before uploadId.
    t.query = fmt::format("partNumber={}&{}", part, idQuery);
    t.inFd = in.fd;
    t.inOffset = offset;
    t.inLength = length;
    t.payloadHash = *hash;
    auto r = send(t);
    if (!r) return abort(r.error().context(fmt::format("part {}", part)));
    if (r->status != 200)
      return abort(Error::msg(
          fmt::format("PUT part {} of {}: {}", part, where, explain(r->status, r->body, config_))));
    if (r->etag.empty())
      return abort(
          Error::msg(fmt::format("PUT part {} of {}: no ETag in the answer", part, where)));
    complete += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", part,
                            xmlEscape(r->etag));
  }
  complete += "</CompleteMultipartUpload>";
  Transfer done;
  done.method = "POST";
  done.key = key;
  done.query = idQuery;
  done.inBytes = complete;
  done.payloadHash = sha256Hex(complete).substr(7);
  done.contentType = "application/xml";
  auto r = send(done);
  if (!r) return abort(r.error().context("complete the multipart upload"));
  // CompleteMultipartUpload may answer 200 and still carry an error document.
  std::string code = xmlChild(r->body, "Error", "Code");
  if (r->status != 200 || !code.empty())
    return abort(Error::msg(fmt::format("complete the multipart upload of {}: {}", where,
                                        explain(r->status, r->body, config_))));
  return {};
}

VoidResult S3ImageStore::fetch(const std::string& digest, const std::string& destPath) {
  if (!isDigest(digest)) return failMsg("bad digest '" + digest + "'");
  static std::atomic<uint64_t> n{0};
  std::string tmp = fmt::format("{}.s3.{}.{}", destPath, ::getpid(), n++);
  FdGuard out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (out.fd < 0) return failSys("create '" + tmp + "'");
  auto removeTmp = [&] {
    ::close(out.fd);
    out.fd = -1;
    ::unlink(tmp.c_str());
  };
  Transfer t;
  t.method = "GET";
  t.key = objectKey(digest);
  t.outFd = out.fd;
  auto r = send(t);
  if (!r) return removeTmp(), fail(r.error().context("fetch blob " + digest));
  if (r->status != 200) {
    removeTmp();
    std::string why = explain(r->status, r->body, config_);
    if (r->status == 404 && xmlChild(r->body, "Error", "Code") != "NoSuchBucket")
      why = "no blob " + digest + " in " + describe();
    return failMsg(fmt::format("fetch blob {}: {}", digest, why));
  }
  std::string got = t.outHash->finish();
  if (got != digest) {
    removeTmp();
    return failMsg(fmt::format("fetch blob {} from {}: the object has digest {}: corrupt, refused",
                               digest, describe(), got));
  }
  if (::fsync(out.fd) != 0) {
    int err = errno;
    removeTmp();
    return failSys("fsync '" + tmp + "'", err);
  }
  ::close(out.fd);
  out.fd = -1;
  if (::rename(tmp.c_str(), destPath.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return failSys("rename '" + tmp + "'", err);
  }
  return {};
}

}  // namespace kuiga::imagestore
