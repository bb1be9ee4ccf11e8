// The master's API as a test asks it: the shared helpers, and the HTTP way (kuiga test).
#include <fmt/format.h>

#include "client/api_client.hpp"
#include "scenario/scenario.hpp"

namespace kuiga::scenario {

std::string errorText(const Reply& r) {
  if (r.body.is_object() && r.body.contains("message") && r.body["message"].is_string())
    return fmt::format("{} (HTTP {}): {}", r.body.value("error", "error"), r.status,
                       r.body["message"].get<std::string>());
  return fmt::format("HTTP {}: {}", r.status, r.text.substr(0, 200));
}

namespace {

Result<nlohmann::json> jsonOf(Result<Reply> r) {
  if (!r) return fail(r.error());
  if (r->status < 200 || r->status >= 300) return failMsg(errorText(*r));
  return r->body;
}

class HttpApi final : public Api {
 public:
  explicit HttpApi(client::ApiClient& c) : c_(c) {}
  Result<Reply> request(const std::string& method, const std::string& path,
                        const std::string& body) override {
    return reply(c_.request(method, path, body));
  }
  Result<Reply> upload(const std::string& path, const std::string& file, const std::string& field,
                       const std::map<std::string, std::string>& fields) override {
    return reply(c_.upload(path, file, field, fields));
  }
  VoidResult stream(const std::string& path,
                    const std::function<bool(std::string_view)>& sink) override {
    return c_.stream(path, sink);
  }

 private:
  static Result<Reply> reply(Result<client::Response> r) {
    if (!r) return fail(r.error());
    return Reply{r->status, std::move(r->body), std::move(r->text)};
  }
  client::ApiClient& c_;
};

}  // namespace

Result<nlohmann::json> Api::get(const std::string& path) {
  return jsonOf(request("GET", path));
}

Result<nlohmann::json> Api::post(const std::string& path, const nlohmann::json& body) {
  return jsonOf(request("POST", path, body.is_null() ? "{}" : body.dump()));
}

Result<nlohmann::json> Api::del(const std::string& path) {
  return jsonOf(request("DELETE", path));
}

std::unique_ptr<Api> httpApi(client::ApiClient& client) {
  return std::make_unique<HttpApi>(client);
}

}  // namespace kuiga::scenario
