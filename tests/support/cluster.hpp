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
  client::ApiClient& api() { return *api_; }
  master::Server& server() { return *server_; }
  const std::string& dataDir() const { return dir_.path(); }

 private:
  TempDir dir_;
  master::ServerConfig cfg_;
  std::unique_ptr<master::Server> server_;
  std::unique_ptr<client::ApiClient> api_;
  int generation_ = 0;
};

class FakeWorker {
 public:
  FakeWorker(const std::string& name, const std::string& masterUrl, uint32_t capacity);
  ~FakeWorker();
  FakeRuntime& runtime() { return *runtime_; }
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
  std::unique_ptr<worker::HttpBlobSource> blobs_;
  std::unique_ptr<worker::Agent> agent_;
  std::jthread thread_;
};

// Path of a small real ELF executable to upload.
std::string sampleAut();
// The sum of a radio report's drops by cause (GET /runs/{id}/radio, "dropped").
uint64_t totalDropped(const nlohmann::json& radio);

}  // namespace kuiga::test
