#pragma once
// SHA-256 content digests ("sha256:<64 hex>"), through OpenSSL's EVP interface.
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace kuiga {

std::string sha256Hex(std::string_view data);
// Digest of a file's contents, read in chunks (AUTs may be large).
Result<std::string> sha256File(const std::string& path);
// "sha256:" followed by 64 lowercase hex digits; anything else would let a digest name a path.
bool isDigest(std::string_view s);

// Incremental hashing, for uploads digested while they stream to disk.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len);
  // "sha256:<hex>"; the object is finished afterwards.
  std::string finish();

 private:
  void* ctx_;
};

}  // namespace kuiga
