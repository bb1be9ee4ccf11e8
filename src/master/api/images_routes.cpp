// Images: uploads of AUTs and their records. An image belongs to the users who uploaded it;
// another user's image is a 404 to them. Workers fetch the blobs over their own gRPC link.
#include <fmt/format.h>

#include "master/api/api_common.hpp"
#include "master/views.hpp"

namespace kuiga::master::api {

namespace {

using namespace doc;

json uploadBody() {
  return {{"content",
           {{"multipart/form-data",
             {{"schema",
               {{"type", "object"},
                {"properties",
                 {{"aut", {{"type", "string"}, {"format", "binary"}}},
                  {"spec", {{"type", "string"}, {"description", "RunSpec as JSON"}}},
                  {"profile", {{"type", "string"}}}}}}}}}}}};
}

http::Response upload(ImageService& m, http::Request& req, const Caller& who) {
  if (!req.multipart || !req.upload)
    return replyError(
        ApiError::badRequest("upload the AUT as multipart/form-data with a part named 'aut'"));
  if (req.upload->field != "aut")
    return replyError(ApiError::badRequest("no 'aut' part in the upload (the file came as '" +
                                           req.upload->field + "')"));
  std::string profile = req.fields.contains("profile") ? req.fields["profile"] : "linux";
  auto img = m.addImage(req.upload->path, req.upload->fileName, profile, who.user);
  return answer(img, 201, [](const ImageRecord& i) { return toJson(i); });
}

}  // namespace

json uploadRequestBody() {
  return uploadBody();
}

Routes imageRoutes(Context& c) {
  ImageService& m = c.images;
  Routes r;
  r.push_back({"POST", "/api/v1/images", Role::User, Scope::None,
               op("Upload an AUT and build its image",
                  with({{"201", ok("image", ref("Image"))}}, {400, 413, 507}),
                  {{"requestBody", uploadBody()}}),
               [&m](http::Request& req, const Caller& who) { return upload(m, req, who); },
               http::Body::Multipart});
  r.push_back({"GET", "/api/v1/images", Role::User, Scope::None,
               op("The images the caller uploaded (every image, for an admin)",
                  {{"200", ok("images", {{"type", "array"}, {"items", ref("Image")}})}}),
               [&m](http::Request&, const Caller& who) {
                 return answer(m.images(who.ownerFilter()), 200,
                               [](const std::vector<ImageRecord>& v) {
                                 json a = json::array();
                                 for (const auto& i : v) a.push_back(toJson(i));
                                 return a;
                               });
               }});
  r.push_back({"GET", "/api/v1/images/{digest}", Role::User, Scope::Image,
               op("One image", with({{"200", ok("image", ref("Image"))}}, {404}),
                  {{"parameters", {param("digest", "path", "string")}}}),
               [&m](http::Request& req, const Caller&) {
                 return answer(m.image(req.params[0]), 200,
                               [](const ImageRecord& i) { return toJson(i); });
               }});
  return r;
}

}  // namespace kuiga::master::api
