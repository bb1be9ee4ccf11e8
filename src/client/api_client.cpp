#include "client/api_client.hpp"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace kuiga::client {

ApiClient::ApiClient(std::string url, std::string token, std::string caPem)
    : url_(std::move(url)), token_(std::move(token)), caPem_(std::move(caPem)) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
}

ApiClient::~ApiClient() = default;

// A CA certificate store holding the PEM's certificates (null when it holds none).
static X509_STORE* storeOf(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                                &BIO_free);
  X509_STORE* store = X509_STORE_new();
  int n = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    n += X509_STORE_add_cert(store, cert);
    X509_free(cert);
  }
  if (n == 0) X509_STORE_free(store), store = nullptr;
  return store;
}

std::unique_ptr<httplib::Client> ApiClient::makeClient() const {
  auto c = std::make_unique<httplib::Client>(url_);
  c->set_connection_timeout(5);
  c->set_read_timeout(600);
  c->set_write_timeout(600);
  if (!token_.empty()) c->set_bearer_token_auth(token_);
  c->enable_server_certificate_verification(verify_);
  if (!caPem_.empty())
    if (X509_STORE* s = storeOf(caPem_)) c->set_ca_cert_store(s);  // the client owns it now
  return c;
}

static Response toResponse(const httplib::Response& r) {
  Response out;
  out.status = r.status;
  for (const auto& [k, v] : r.headers) {
    std::string name = k;
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = v;
  }
  out.text = r.body;
  out.body = nlohmann::json::parse(r.body, nullptr, false);
  if (out.body.is_discarded()) out.body = nullptr;
  return out;
}

static Error transport(const std::string& url, httplib::Error e) {
  return Error::msg(fmt::format("cannot reach the master at {}: {}", url, httplib::to_string(e)));
}

Error errorOf(const Response& r) {
  if (r.body.is_object() && r.body.contains("message"))
    return Error::msg(fmt::format("{} (HTTP {}): {}", r.body.value("error", "error"), r.status,
                                  r.body["message"].get<std::string>()));
  return Error::msg(fmt::format("HTTP {}: {}", r.status, r.text.substr(0, 200)));
}

Result<Response> ApiClient::request(const std::string& method, const std::string& path,
                                    const std::string& body, const std::string& contentType,
                                    const std::map<std::string, std::string>& headers) {
  auto c = makeClient();
  httplib::Headers h(headers.begin(), headers.end());
  httplib::Result r = method == "GET"      ? c->Get(path, h)
                      : method == "POST"   ? c->Post(path, h, body, contentType)
                      : method == "DELETE" ? c->Delete(path, h)
                                           : c->Put(path, h, body, contentType);
  if (!r) return fail(transport(url_, r.error()));
  return toResponse(*r);
}

static Result<nlohmann::json> jsonOf(Result<Response> r) {
  if (!r) return fail(r.error());
  if (r->status / 100 != 2) return fail(errorOf(*r));
  return r->body;
}

Result<nlohmann::json> ApiClient::get(const std::string& path) {
  return jsonOf(request("GET", path));
}

Result<nlohmann::json> ApiClient::post(const std::string& path, const nlohmann::json& body) {
  return jsonOf(request("POST", path, body.is_null() ? "{}" : body.dump()));
}

Result<nlohmann::json> ApiClient::del(const std::string& path) {
  return jsonOf(request("DELETE", path));
}

Result<Response> ApiClient::upload(const std::string& path, const std::string& filePath,
                                   const std::string& fileField,
                                   const std::map<std::string, std::string>& fields) {
  auto in = std::make_shared<std::ifstream>(filePath, std::ios::binary);
  if (!*in) return failSys("open '" + filePath + "'");
  httplib::MultipartFormDataItems items;
  for (const auto& [k, v] : fields) items.push_back({k, v, "", "application/json"});
  httplib::MultipartFormDataProviderItems providers;
  providers.push_back({fileField,
                       [in](size_t, httplib::DataSink& sink) {
                         char buf[1 << 16];
                         in->read(buf, sizeof buf);
                         if (in->gcount() > 0) sink.write(buf, static_cast<size_t>(in->gcount()));
                         if (!*in) sink.done();
                         return true;
                       },
                       std::filesystem::path(filePath).filename().string(),
                       "application/octet-stream"});
  auto c = makeClient();
  auto r = c->Post(path, {}, items, providers);
  if (!r) return fail(transport(url_, r.error()));
  return toResponse(*r);
}

VoidResult ApiClient::stream(const std::string& path,
                             const std::function<bool(std::string_view)>& sink) {
  auto c = makeClient();
  c->set_read_timeout(24 * 3600);
  int status = 0;
  std::string errorBody;
  auto r = c->Get(
      path,
      [&](const httplib::Response& resp) {
        status = resp.status;
        return true;
      },
      [&](const char* d, size_t n) {
        if (status / 100 != 2) {
          errorBody.append(d, n);
          return true;
        }
        return sink(std::string_view(d, n));
      });
  if (status / 100 != 2 && status != 0) {
    Response resp;
    resp.status = status;
    resp.text = errorBody;
    resp.body = nlohmann::json::parse(errorBody, nullptr, false);
    return fail(errorOf(resp));
  }
  if (!r && r.error() != httplib::Error::Canceled) return fail(transport(url_, r.error()));
  return {};
}

}  // namespace kuiga::client
