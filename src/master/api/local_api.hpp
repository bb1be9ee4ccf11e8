#pragma once
// The REST API called from inside the master, as one caller (internal): a test the master runs
// for a user (POST /api/v1/tests) asks the API exactly what `kuiga test` would ask over HTTP,
// through the same route table, with the same role and ownership checks, with no socket and no
// token. Streamed answers (logs, captures) are read to their end.
#include <memory>
#include <vector>

#include "master/api/api_common.hpp"
#include "scenario/scenario.hpp"

namespace kuiga::master::api {

class LocalApi final : public scenario::Api {
 public:
  // `routes` and the owners' services must outlive it (the table HttpApi keeps).
  LocalApi(const Routes& routes, Owners owners, Caller caller);
  Result<scenario::Reply> request(const std::string& method, const std::string& path,
                                  const std::string& body) override;
  Result<scenario::Reply> upload(const std::string& path, const std::string& file,
                                 const std::string& field,
                                 const std::map<std::string, std::string>& fields) override;
  VoidResult stream(const std::string& path,
                    const std::function<bool(std::string_view)>& sink) override;

 private:
  // The route's answer (the body not read yet), or an error when no route matches.
  Result<http::Response> answer(http::Request& req);
  Result<scenario::Reply> call(http::Request& req);
  const Routes& routes_;
  Owners owners_;
  Caller caller_;
};

}  // namespace kuiga::master::api
