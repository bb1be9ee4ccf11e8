#pragma once
// The S3 backend of the Image Store: blobs as objects `sha256/<hex>` in one bucket of any
// S3-compatible store (Ceph RGW, MinIO, SeaweedFS, AWS). Requests go through libcurl and are
// signed by libcurl's own AWS SigV4 (CURLOPT_AWS_SIGV4); nothing here signs by hand.
//
// Uploads stream from the file (one PUT, or a multipart upload past a threshold) with the
// payload's SHA-256 in x-amz-content-sha256, so the store itself checks every byte it takes.
// Downloads stream to a temporary file, are hashed on the way and renamed into place only when
// the digest matches. 5xx answers, timeouts and broken transfers are retried with exponential
// backoff. Objects keep the bucket's private ACL: nothing is made public-read.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "imagestore/image_store.hpp"

namespace kuiga::imagestore {

struct S3Credentials {
  std::string accessKey;
  std::string secretKey;
};

// Credentials never come from the command line (they would show in `ps` and shell history):
// from `file`, an AWS shared-credentials file (`[profile]` with aws_access_key_id and
// aws_secret_access_key), or, when `file` is empty, from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY.
Result<S3Credentials> loadS3Credentials(const std::string& file,
                                        const std::string& profile = "default");

enum class S3Addressing { Path, VirtualHost };

struct S3Config {
  std::string endpoint;  // scheme://host[:port], e.g. http://127.0.0.1:7480
  std::string bucket;
  std::string region = "us-east-1";
  S3Addressing addressing = S3Addressing::Path;
  S3Credentials credentials;
  uint64_t multipartThreshold = 64ull << 20;  // larger blobs go up in parts
  uint64_t partSize = 16ull << 20;            // S3's smallest part (but the last) is 5 MiB
  int attempts = 5;                           // per request, the first included
  std::chrono::milliseconds backoff{200};     // doubled after each failed attempt
  std::chrono::milliseconds connectTimeout{10000};
  std::chrono::seconds stallTimeout{30};  // a transfer that moves no byte this long is broken
  std::string caFile;                     // extra CA bundle for an https endpoint
};

// Checks a configuration before use: endpoint URL, bucket name, part sizes, credentials there.
VoidResult validate(const S3Config& c);

class S3ImageStore final : public ImageStore {
 public:
  // Validates the configuration and checks that the bucket exists and these credentials may
  // read it (HEAD bucket), so that a wrong key or a missing bucket is reported at start.
  static Result<std::unique_ptr<S3ImageStore>> open(S3Config config);
  // Creates the bucket (private). For set-up scripts and tests; the master never does this.
  static VoidResult createBucket(const S3Config& config);

  VoidResult put(const std::string& digest, const std::string& srcPath) override;
  Result<bool> has(const std::string& digest) override;
  VoidResult fetch(const std::string& digest, const std::string& destPath) override;
  std::string describe() const override;

  // HTTP requests sent so far, retries included (for tests and logs).
  uint64_t requestsSent() const { return requests_.load(); }
  const S3Config& config() const { return config_; }

  // One HTTP exchange and its answer (internal; public for libcurl's callbacks).
  struct Transfer;
  struct Reply;

 private:
  explicit S3ImageStore(S3Config config) : config_(std::move(config)) {}
  Result<Reply> send(Transfer& t);
  VoidResult putSingle(const std::string& key, const std::string& srcPath, uint64_t size,
                       const std::string& digest);
  VoidResult putMultipart(const std::string& key, const std::string& srcPath, uint64_t size);
  std::string url(const std::string& key, const std::string& query) const;

  S3Config config_;
  std::atomic<uint64_t> requests_{0};
};

}  // namespace kuiga::imagestore
