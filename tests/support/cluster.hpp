#pragma once
// A master on a temporary data directory, and in-process workers with fake runtimes, for
// control-plane tests over real HTTP and gRPC.
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "client/api_client.hpp"
#include "master/server.hpp"
#include "tests/support/fake_runtime.hpp"
#include "tests/support/leak_check.hpp"
#include "worker/agent/agent.hpp"
#include "worker/agent/worker_node.hpp"

namespace kuiga::test {

// Polls `pred` every 20 ms until it holds or `timeoutMs` passes.
bool eventually(const std::function<bool()>& pred, int timeoutMs = 10000);

class TestMaster {
 public:
  explicit TestMaster(master::ServerConfig cfg = {});
  ~TestMaster();
  // kill -9 as far as one process can: the server goes without a clean shutdown of its state
  // (SQLite's WAL is all that remains), then a new one starts on the same directory and port.
  void restart();
  // The two halves of restart(), for what happens while the master is away.
  void stop();
  void start();
  // Another master on the same port with a data directory of its own (a new cluster), as when
  // an operator starts over with a fresh --data.
  void startFresh();
  std::string url() const;
  // A client with the first admin's token (from DATA/kuiga.conf).
  client::ApiClient& api() { return *api_; }
  [[nodiscard]] const std::string& adminToken() const { return adminToken_; }
  // A client with a new token of that role (for a user: `user` owns what it makes).
  client::ApiClient client(const std::string& role, const std::string& name);
  // A join token (role join), for nodes that enroll.
  std::string joinToken(const std::string& name = "join");
  master::Server& server() { return *server_; }
  const std::string& dataDir() const { return dir_.path(); }

 private:
  TempDir dir_;
  master::ServerConfig cfg_;
  std::unique_ptr<master::Server> server_;
  void useAdminToken();
  std::unique_ptr<client::ApiClient> api_;
  std::string adminToken_;
  int generation_ = 0;
};

class FakeWorker {
 public:
  // Its credentials are issued by the master in this process, as kuiga up's worker's are.
  FakeWorker(const std::string& name, master::Server& master, uint32_t capacity);
  // Its link as given (enrolling with a join token, say); its state directory is its own.
  FakeWorker(worker::MasterLinkConfig link, uint32_t capacity);
  ~FakeWorker();
  FakeRuntime& runtime() { return *runtime_; }
  worker::MasterLink& link() { return *link_; }
  bool connected() const { return agent_->connected(); }
  // Ends the agent (the master sees the stream close); the fake instances stay.
  void disconnect();
  void connect();
  // Its state directory (logs/, the cluster id, stale/).
  [[nodiscard]] const std::string& stateDir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::string name_, url_;
  worker::EventQueue events_;
  std::unique_ptr<FakeRuntime> runtime_;
  std::unique_ptr<worker::MasterLink> link_;
  std::unique_ptr<worker::LinkBlobSource> blobs_;
  std::unique_ptr<worker::Agent> agent_;
  std::jthread thread_;
};

// A node's credentials issued by `master` (as for a worker in its process).
worker::NodeCredentials credentialsFor(master::Server& master, const std::string& name);

// Path of a small real ELF executable to upload.
std::string sampleAut();
// The sum of a radio report's drops by cause (GET /runs/{id}/radio, "dropped").
uint64_t totalDropped(const nlohmann::json& radio);

}  // namespace kuiga::test
