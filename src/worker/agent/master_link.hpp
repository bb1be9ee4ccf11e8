#pragma once
// How a worker or plexer reaches its master. It holds a client certificate that names it,
// signed by the cluster CA: kept in STATE/pki/, got once by enrolling with a join token, or
// given by the master's own process (kuiga up). Enrolling, it reads the cluster's CA from the
// master (GET /api/v1/cluster/join, public), checks it against the hash the join token carries
// (as kubeadm's discovery hash), and only then sends the token and its certificate request.
// Every call to the master goes over one gRPC channel with mutual TLS: the Connect stream and
// blob downloads alike.
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "imagestore/image_store.hpp"

namespace grpc {
class Channel;
}

namespace kuiga::worker {

struct NodeCredentials {
  std::string keyPem;
  std::string certPem;
  std::string caPem;  // the cluster CA
};

struct MasterLinkConfig {
  std::string url;        // the master's API, "https://kuiga.example:8750"
  std::string name;       // this node's
  std::string stateDir;   // its credentials go to STATE/pki/
  std::string joinToken;  // to enroll when it has no certificate yet
  // The CA of the API's HTTPS certificate when it is not the cluster CA (an operator's own
  // certificate); "" trusts the cluster CA (--tls auto).
  std::string apiCaPem;
  // Credentials given by the master's own process; none: from STATE/pki/ or enrollment.
  std::optional<NodeCredentials> credentials;
};

struct MasterEndpoint {
  std::string rpc;        // HOST:PORT of the master's gRPC endpoint
  std::string clusterId;  // "" from a master older than cluster ids
};

// A join token "kgj_<CA pin hex>_<secret>": the pin as "sha256:<hex>", or an error.
Result<std::string> joinTokenPin(const std::string& token);

class MasterLink {
 public:
  explicit MasterLink(MasterLinkConfig config);
  ~MasterLink();
  // This node's credentials: given, kept, or got now by enrolling.
  Result<NodeCredentials> credentials();
  // A join token for the node's next enrollment: when the master turns out to be of another
  // cluster (started anew) whose CA the token names, the node enrolls with it.
  void rejoin(std::string joinToken);
  // Asks the master where it takes nodes (and remembers it for channel()); enrolls anew with a
  // matching join token when the master is of another cluster now.
  Result<MasterEndpoint> discover();
  // A channel with mutual TLS to the endpoint found last (discovering it first if need be).
  Result<std::shared_ptr<grpc::Channel>> channel();
  [[nodiscard]] const std::string& url() const { return config_.url; }
  [[nodiscard]] const std::string& name() const { return config_.name; }

 private:
  Result<NodeCredentials> enroll();
  // GET /api/v1/cluster/join; `verifyWith` the CA to check the API's certificate against ("":
  // none, before the pin is checked).
  Result<nlohmann::json> joinInfo(const std::string& verifyWith);
  MasterLinkConfig config_;
  std::mutex mu_;
  std::optional<NodeCredentials> creds_;
  std::string target_;  // the endpoint the channel is for
  std::shared_ptr<grpc::Channel> channel_;
};

// Fetches blobs from the master over the node's link (rpc Blob) and verifies their digest.
class LinkBlobSource final : public imagestore::BlobSource {
 public:
  explicit LinkBlobSource(MasterLink& link) : link_(link) {}
  VoidResult fetch(const std::string& digest, const std::string& destPath) override;

 private:
  MasterLink& link_;
};

}  // namespace kuiga::worker
