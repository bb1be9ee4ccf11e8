#pragma once
// The Image Store: blobs (AUTs and manifests) by digest. The local directory backend is the
// embedded default; an S3 backend implements the same interface. Every read is verified against
// its digest, so a corrupt or tampered blob is never run.
#include <memory>
#include <string>

#include "common/result.hpp"
#include "imagestore/image.hpp"

namespace kuiga::imagestore {

// Where a worker gets blobs from: the store itself, or the master's API.
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  // Writes the blob to `destPath` (replacing it) and verifies its digest.
  virtual VoidResult fetch(const std::string& digest, const std::string& destPath) = 0;
};

class ImageStore : public BlobSource {
 public:
  // Stores the file at `srcPath` as blob `digest` (already computed by the caller, verified
  // again here). Storing a digest that exists is a no-op: content addressing deduplicates.
  virtual VoidResult put(const std::string& digest, const std::string& srcPath) = 0;
  virtual Result<bool> has(const std::string& digest) = 0;
  virtual std::string describe() const = 0;
};

// Blobs as files <dir>/sha256/<hex>, written to a temporary name and renamed, so a crash never
// leaves a partial blob under a valid name.
class LocalImageStore final : public ImageStore {
 public:
  static Result<std::unique_ptr<LocalImageStore>> open(const std::string& dir);
  VoidResult put(const std::string& digest, const std::string& srcPath) override;
  Result<bool> has(const std::string& digest) override;
  VoidResult fetch(const std::string& digest, const std::string& destPath) override;
  std::string describe() const override { return "local directory " + dir_; }
  // Path of a stored blob (for serving it without a copy).
  std::string blobPath(const std::string& digest) const;

 private:
  explicit LocalImageStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// Builds and stores the image for an AUT file: inspects it, stores the AUT blob and the
// manifest blob. Returns the manifest (the image digest is manifestDigest(m)).
struct BuiltImage {
  std::string digest;
  Manifest manifest;
};
Result<BuiltImage> buildImage(ImageStore& store, const std::string& autPath,
                              const std::string& executableName, Profile profile);

// A worker's local copy of images: <dir>/<hex>/app/<executable>, fetched and verified once.
class ImageCache {
 public:
  ImageCache(std::string dir, BlobSource& source) : dir_(std::move(dir)), source_(source) {}
  struct Local {
    Manifest manifest;
    std::string appDir;  // shown read-only at /app
  };
  // Fetches the image if it is not here yet. Safe to call from several threads.
  Result<Local> ensure(const std::string& imageDigest);

 private:
  std::string dir_;
  BlobSource& source_;
};

}  // namespace kuiga::imagestore
