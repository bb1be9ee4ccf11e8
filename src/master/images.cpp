#include "master/images.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "master/run_service_internal.hpp"

namespace kuiga::master {

ApiResult<ImageRecord> ImageService::addImage(const std::string& autPath,
                                              const std::string& fileName,
                                              const std::string& profileName,
                                              const std::string& owner) {
  auto profile = imagestore::parseProfile(profileName);
  if (!profile) return apiFail(ApiError::badRequest(profile.error().message));
  std::string exe = std::filesystem::path(fileName).filename().string();
  if (exe.empty()) exe = "aut";
  auto built = imagestore::buildImage(blobs_, autPath, exe, *profile);
  if (!built) {
    // Everything buildImage refuses is about the upload itself, except a failing store.
    if (built.error().code == ENOSPC || built.error().code == EDQUOT)
      return apiFail(storeError(built.error()));
    bool storeFault = built.error().message.find("store") != std::string::npos;
    return apiFail(storeFault ? ApiError::internal(built.error().message)
                              : ApiError{400, "bad_aut", built.error().message});
  }
  ImageRecord rec{built->digest, exe, std::string(imagestore::toString(*profile)),
                  built->manifest.toJson(), nowNs()};
  auto isNew = store_.insertImage(rec);
  if (!isNew) return apiFail(storeError(isNew.error().context("record image " + rec.digest)));
  if (auto owned = store_.addImageOwner(rec.digest, owner); !owned)
    return apiFail(storeError(owned.error().context("record image " + rec.digest)));
  if (!*isNew) return image(built->digest);
  spdlog::info("image {} stored ({} {}, {} bytes)", rec.digest, rec.profile, exe,
               built->manifest.autSize);
  return rec;
}

ApiResult<ImageRecord> ImageService::image(const std::string& digest) {
  auto r = store_.image(digest);
  if (!r) return apiFail(storeError(r.error()));
  if (!*r) return apiFail(ApiError::notFound("no image " + digest));
  return **r;
}

ApiResult<std::vector<ImageRecord>> ImageService::images(const std::string& owner) {
  auto r = owner.empty() ? store_.images() : store_.imagesOf(owner);
  if (!r) return apiFail(storeError(r.error()));
  return *r;
}

bool ImageService::ownsImage(const std::string& digest, const std::string& user) {
  auto r = store_.imageOwnedBy(digest, user);
  return r && *r;
}

}  // namespace kuiga::master
