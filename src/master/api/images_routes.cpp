// Images: uploads of AUTs, their records, and the blobs workers fetch.
#include <filesystem>

#include <fmt/format.h>

#include "common/digest.hpp"
#include "master/api/api_common.hpp"
#include "master/views.hpp"

namespace kuiga::master::api {

Routes imageRoutes(Context& c) {
  Master& m = c.master;
  const HttpApiConfig& cfg = c.config;
  Routes r;
  r.push_back(
      {"POST", "/api/v1/images",
       [&m](http::Request& req) {
         if (!req.multipart || !req.upload)
           return replyError(ApiError::badRequest(
               "upload the AUT as multipart/form-data with a part named 'aut'"));
         if (req.upload->field != "aut")
           return replyError(ApiError::badRequest(
               "no 'aut' part in the upload (the file came as '" + req.upload->field + "')"));
         std::string profile = req.fields.contains("profile") ? req.fields["profile"] : "linux";
         auto img = m.addImage(req.upload->path, req.upload->fileName, profile);
         return answer(img, 201, [](const ImageRecord& i) { return toJson(i); });
       },
       http::Body::Multipart});
  r.push_back({"GET", "/api/v1/images", [&m](http::Request&) {
                 return answer(m.images(), 200, [](const std::vector<ImageRecord>& v) {
                   json a = json::array();
                   for (const auto& i : v) a.push_back(toJson(i));
                   return a;
                 });
               }});
  r.push_back({"GET", "/api/v1/images/{digest}", [&m](http::Request& req) {
                 return answer(m.image(req.params[0]), 200,
                               [](const ImageRecord& i) { return toJson(i); });
               }});
  // Sent by the kernel from the file (sendfile), so a fetch by many workers costs no copies.
  r.push_back({"GET", "/api/v1/blobs/{digest}", [&cfg](http::Request& req) {
                 const std::string& digest = req.params[0];
                 if (!cfg.blobs && !cfg.blobsElsewhere.empty())
                   return replyError(ApiError::notFound(
                       "this master keeps images in " + cfg.blobsElsewhere +
                       ": workers fetch them from there (kuiga worker --s3-endpoint ...)"));
                 if (!isDigest(digest) || !cfg.blobs ||
                     !std::filesystem::exists(cfg.blobs->blobPath(digest)))
                   return replyError(ApiError::notFound("no blob " + digest));
                 http::Response res;
                 res.type = "application/octet-stream";
                 res.file = cfg.blobs->blobPath(digest);
                 return res;
               }});
  return r;
}

}  // namespace kuiga::master::api
