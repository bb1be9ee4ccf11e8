#include "client/api_client.hpp"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <httplib.h>

namespace kuiga::client {

ApiClient::ApiClient(std::string url) : url_(std::move(url)) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
}

ApiClient::~ApiClient() = default;

static std::unique_ptr<httplib::Client> makeClient(const std::string& url) {
  auto c = std::make_unique<httplib::Client>(url);
  c->set_connection_timeout(5);
  c->set_read_timeout(600);
  c->set_write_timeout(600);
  return c;
}

static Response toResponse(const httplib::Response& r) {
  Response out;
  out.status = r.status;
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
                                    const std::string& body, const std::string& contentType) {
  auto c = makeClient(url_);
  httplib::Result r = method == "GET"      ? c->Get(path)
                      : method == "POST"   ? c->Post(path, body, contentType)
                      : method == "DELETE" ? c->Delete(path)
                                           : c->Put(path, body, contentType);
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
  auto c = makeClient(url_);
  auto r = c->Post(path, {}, items, providers);
  if (!r) return fail(transport(url_, r.error()));
  return toResponse(*r);
}

VoidResult ApiClient::stream(const std::string& path,
                             const std::function<bool(std::string_view)>& sink) {
  auto c = makeClient(url_);
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
