#pragma once
// Images: an uploaded AUT built into a content-addressed image (the AUT blob and its manifest
// in the Image Store, the record in the Store), and who may use each: the users who uploaded
// it (the same AUT uploaded by two users is one image of both).
#include <string>
#include <vector>

#include "imagestore/image_store.hpp"
#include "master/api_error.hpp"
#include "master/store.hpp"

namespace kuiga::master {

class ImageService {
 public:
  ImageService(Store& store, imagestore::ImageStore& blobs) : store_(store), blobs_(blobs) {}
  // Builds and stores the image of an uploaded AUT (deduplicated by content), and records
  // `owner` as one of the users who may use it.
  ApiResult<ImageRecord> addImage(const std::string& autPath, const std::string& fileName,
                                  const std::string& profile, const std::string& owner);
  ApiResult<ImageRecord> image(const std::string& digest);
  // `owner`'s images; every image when `owner` is empty.
  ApiResult<std::vector<ImageRecord>> images(const std::string& owner = {});
  bool ownsImage(const std::string& digest, const std::string& user);

 private:
  Store& store_;
  imagestore::ImageStore& blobs_;
};

}  // namespace kuiga::master
