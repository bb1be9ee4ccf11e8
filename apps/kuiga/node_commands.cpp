#include "apps/kuiga/node_commands.hpp"

#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "apps/kuiga/commands.hpp"
#include "client/api_client.hpp"
#include "client/config.hpp"
#include "master/server.hpp"
#include "sys/file.hpp"
#include "worker/agent/worker_node.hpp"

namespace kuiga::app {

namespace fs = std::filesystem;

namespace {

// Blocks SIGINT and SIGTERM in every thread started after this, so sigwait() gets them.
sigset_t blockStopSignals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
  return s;
}

int waitForStopSignal(sigset_t& s) {
  int sig = 0;
  sigwait(&s, &sig);
  spdlog::info("stopping on signal {}", sig);
  return sig;
}

// The worker of `kuiga worker` and `kuiga up`, from the command line's options.
Result<std::unique_ptr<worker::WorkerNode>> startWorker(const WorkerNodeOptions& o) {
  worker::WorkerNodeConfig cfg;
  auto s3 = o.s3.config();
  if (!s3) return fail(s3.error());
  cfg.s3 = *s3;
  cfg.master = o.master;
  cfg.name = o.name;
  cfg.joinToken = o.joinToken;
  cfg.credentials = o.credentials;
  if (!o.masterCaFile.empty()) {
    auto ca = sys::readFile(o.masterCaFile);
    if (!ca) return fail(ca.error().context("--master-ca"));
    cfg.apiCaPem = *ca;
  }
  cfg.stateDir = o.stateDir;
  cfg.initPath = defaultInitPath();
  cfg.gatePath = defaultGatePath();
  cfg.runtime = o.runtime;
  cfg.dockerSocket = o.dockerSocket;
  cfg.capacity = o.plexer ? 0 : o.capacity;
  cfg.plexer = o.plexer;
  cfg.removeOnExit = o.removeOnExit;
  // The first process of its PID namespace (a container's entrypoint): the kernel ends every
  // process of the namespace with it, the instances of the ns runtime and a plexer's cells too.
  // Leaving them "for a restart" would leave them to be killed unreported; remove them instead.
  if (::getpid() == 1 && !cfg.removeOnExit && (o.plexer || o.runtime != "docker")) {
    spdlog::warn(
        "{} is the first process of its PID namespace (a container's): what it runs "
        "ends with it, so it removes its {} when stopped (as --remove-on-exit)",
        o.name, o.plexer ? "cells" : "instances");
    cfg.removeOnExit = true;
  }
  cfg.exposed = o.exposed;
  cfg.uidBase = o.uidBase;
  if (!o.underlayAddress.empty()) {
    unsigned char buf[16];
    if (::inet_pton(AF_INET, o.underlayAddress.c_str(), buf) != 1 &&
        ::inet_pton(AF_INET6, o.underlayAddress.c_str(), buf) != 1)
      return failMsg("--underlay-address '" + o.underlayAddress +
                     "' is not an IPv4 or IPv6 address");
    cfg.underlayAddress = o.underlayAddress;
  }
  for (const auto& l : o.labels) {
    auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0) return failMsg("label '" + l + "' is not KEY=VALUE");
    cfg.labels[l.substr(0, eq)] = l.substr(eq + 1);
  }
  return worker::WorkerNode::start(cfg);
}

struct UpOptions {
  master::ServerConfig server;
  WorkerNodeOptions worker;
  uint32_t demo = 0;  // devices in a demo run; 0 = no demo, serve until a signal
  double demoSeconds = 10;
  uint32_t demoPeriodMs = 100;
  bool keepOnExit = false;  // an all-in-one box removes its devices when it stops, unless asked
  S3Options s3;
};

int runDemoRun(const client::ClientConfig& conf, const UpOptions& o);

int runUp(UpOptions o) {
  auto s3 = o.s3.config();
  if (!s3) return std::cerr << "kuiga up: " << s3.error().message << "\n", 2;
  o.server.s3 = *s3;
  o.worker.s3 = o.s3;  // one process: the worker reads with the same credentials
  auto signals = blockStopSignals();
  o.server.rpcAddress = "127.0.0.1:0";
  o.server.installUserConfig = true;
  auto server = master::Server::start(o.server);
  if (!server) return std::cerr << "kuiga up: " << server.error().message << "\n", 1;
  o.worker.master = (*server)->url();
  // Its own worker is in its own process: its certificate is issued here, no join token.
  auto creds = (*server)->issueNode(o.worker.name);
  if (!creds) return std::cerr << "kuiga up: " << creds.error().message << "\n", 1;
  o.worker.credentials = worker::NodeCredentials{creds->keyPem, creds->certPem, creds->caPem};
  o.worker.removeOnExit = !o.keepOnExit || o.demo > 0;  // a demo leaves nothing behind
  if (o.worker.stateDir.empty()) o.worker.stateDir = o.server.dataDir + "/worker";
  auto node = startWorker(o.worker);
  if (!node) return std::cerr << "kuiga up: " << node.error().message << "\n", 1;
  std::cout << fmt::format("Kuiga Box is up: API {}/api/v1/ , web UI {}/ , data in {}\n",
                           (*server)->url(), (*server)->url(),
                           fs::absolute(o.server.dataDir).lexically_normal().string())
            << std::flush;
  if (o.demo > 0) {
    auto conf = client::readConfig((*server)->clientConfigPath());
    if (!conf) return std::cerr << "kuiga up: " << conf.error().message << "\n", 1;
    conf->master = (*server)->url();
    return runDemoRun(*conf, o);
  }
  waitForStopSignal(signals);
  size_t left = (*node)->runtime().list().size();
  if (left > 0)
    std::cout << (o.worker.removeOnExit
                      ? fmt::format("Removing {} instances (kuiga up --keep-on-exit leaves them "
                                    "running for the next kuiga up)\n",
                                    left)
                      : fmt::format("Leaving {} instances running: the next kuiga up on {} "
                                    "re-adopts them\n",
                                    left, o.server.dataDir))
              << std::flush;
  return 0;
}

int runMaster(master::ServerConfig cfg, const S3Options& s3Options) {
  auto s3 = s3Options.config();
  if (!s3) return std::cerr << "kuiga master: " << s3.error().message << "\n", 2;
  cfg.s3 = *s3;
  auto signals = blockStopSignals();
  cfg.installUserConfig = true;
  auto server = master::Server::start(cfg);
  if (!server) return std::cerr << "kuiga master: " << server.error().message << "\n", 1;
  std::cout << fmt::format("Kuiga master: API {}/api/v1/ , workers connect through it\n",
                           (*server)->url())
            << std::flush;
  waitForStopSignal(signals);
  return 0;
}

int runWorkerNode(WorkerNodeOptions o) {
  const char* role = o.plexer ? "plexer" : "worker";
  if (!o.plexer && (o.capacity == 0 || o.capacity > 50000))
    return std::cerr << "kuiga worker: --capacity must be 1 to 50000\n", 2;
  if (o.plexer && o.underlayAddress.empty())
    return std::cerr << "kuiga plexer: --underlay-address is required: the workers' devices "
                        "reach the cells here over it\n",
           2;
  auto signals = blockStopSignals();
  auto node = startWorker(o);
  if (!node) return std::cerr << "kuiga " << role << ": " << node.error().message << "\n", 1;
  std::cout << fmt::format("Kuiga {} {}: connecting to {}\n", role, o.name, o.master) << std::flush;
  waitForStopSignal(signals);
  return 0;
}

// The README's main job: a real run through the whole stack, watched from the API.
int runDemoRun(const client::ClientConfig& conf, const UpOptions& o) {
  client::ApiClient api(conf);
  auto say = [](const std::string& s) { std::cout << s << std::endl; };
  for (int i = 0; i < 100; ++i) {
    auto ws = api.get("/api/v1/workers");
    if (ws && !ws->empty() && (*ws)[0].value("online", false)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string aut = defaultExample("periodic");
  if (aut.empty()) return std::cerr << "kuiga up: the periodic example is not installed\n", 1;
  nlohmann::json spec = {{"name", "demo"},
                         {"count", o.demo},
                         {"args", "{start_ms} {period_ms}"},
                         {"period_ms", o.demoPeriodMs}};
  auto created = api.upload("/api/v1/runs", aut, "aut", {{"spec", spec.dump()}});
  if (!created) return std::cerr << "kuiga up: " << created.error().message << "\n", 1;
  if (created->status != 201)
    return std::cerr << "kuiga up: " << client::errorOf(*created).message << "\n", 1;
  int id = created->body["id"];
  say(fmt::format("run {}: {} devices of the periodic AUT (period {} ms), image {}", id, o.demo,
                  o.demoPeriodMs, created->body["spec"]["image"].get<std::string>()));
  auto path = fmt::format("/api/v1/runs/{}", id);
  std::string last;  // the last progress line printed
  auto waitState = [&](const std::string& want, double seconds) -> Result<nlohmann::json> {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      auto r = api.get(path);
      if (!r) return fail(r.error());
      std::string counts;
      for (auto& [k, v] : (*r)["counts"].items())
        if (v.get<uint64_t>() > 0) counts += fmt::format(" {} {}", k, v.get<uint64_t>());
      std::string line = fmt::format("run {}: {}:{}", id, (*r)["state"].get<std::string>(), counts);
      if (line != last) say(line), last = line;
      if ((*r)["state"] == want) return *r;
      if ((*r)["state"] == "dirty")
        return failMsg("the run is dirty: " + (*r)["reason"].get<std::string>());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return failMsg("the run did not become " + want + " in time");
  };
  auto t0 = std::chrono::steady_clock::now();
  auto ready = waitState("ready", 300);
  if (!ready) return std::cerr << "kuiga up: " << ready.error().message << "\n", 1;
  if (auto r = api.post(path + "/start"); !r)
    return std::cerr << "kuiga up: " << r.error().message << "\n", 1;
  int rc = 0;
  for (;;) {
    auto r = api.get(path);
    if (!r) return std::cerr << "kuiga up: " << r.error().message << "\n", 1;
    if ((*r)["counts"]["running"].get<uint64_t>() == o.demo) break;
    if ((*r)["state"] == "dirty") {
      std::cerr << "kuiga up: the run is dirty: " << (*r)["reason"].get<std::string>() << "\n";
      rc = 1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  double allRunning = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  say(fmt::format("run {}: all {} devices running {:.2f} s after create; running for {} s", id,
                  o.demo, allRunning, o.demoSeconds));
  std::this_thread::sleep_for(std::chrono::duration<double>(o.demoSeconds));
  auto j = api.get(path + "/jitter");
  if (!j) {
    std::cerr << "kuiga up: jitter: " << j.error().message << "\n";
    rc = 1;
  } else {
    const auto& s = (*j)["run"];
    say(fmt::format(
        "Summary: deadline jitter p50 {:.3f} ms, p95 {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms "
        "over {} wakeups of {} devices",
        s["p50"].get<double>(), s["p95"].get<double>(), s["p99"].get<double>(),
        s["max"].get<double>(), s["samples"].get<size_t>(), o.demo));
    if (s["samples"].get<size_t>() == 0) rc = 1;
  }
  if (auto r = api.post(path + "/stop"); !r) std::cerr << "kuiga up: " << r.error().message << "\n";
  (void)waitState("stopped", 120);
  if (auto r = api.del(path); !r) std::cerr << "kuiga up: " << r.error().message << "\n";
  if (auto r = waitState("deleted", 120); !r) {
    std::cerr << "kuiga up: " << r.error().message << "\n";
    rc = 1;
  }
  return rc;
}

}  // namespace

static void addConnectionOptions(CLI::App* cmd, master::ServerConfig& cfg) {
  cmd->add_option("--max-connections", cfg.connections, "open API connections in all")
      ->check(CLI::Range(16u, 16384u));
  cmd->add_option("--max-connections-per-address", cfg.connectionsPerAddress,
                  "open API connections from one client address")
      ->check(CLI::Range(1u, 16384u));
}

// How a master serves its API: TLS, or plain HTTP on a loopback address (or --insecure).
static void addTlsOptions(CLI::App* cmd, master::ServerConfig& cfg) {
  static std::string tls;
  cmd->add_option("--tls", tls,
                  "auto: HTTPS with a certificate from the cluster CA (DATA/pki/) for this "
                  "host's names and addresses")
      ->check(CLI::IsMember({"auto"}))
      ->each([&cfg](const std::string& v) { cfg.tlsAuto = v == "auto"; });
  cmd->add_option("--tls-name", cfg.tlsNames,
                  "with --tls auto, a name or address the certificate is also for (repeatable: "
                  "a Kubernetes Service's, a DNS alias)");
  cmd->add_option("--tls-cert", cfg.tlsCertFile, "HTTPS with this certificate (PEM, chain)");
  cmd->add_option("--tls-key", cfg.tlsKeyFile, "and this key (PEM)");
  cmd->add_flag("--insecure", cfg.insecure,
                "serve plain HTTP on a non-loopback address (tokens and uploads in clear)");
  cmd->add_option("--public-url", cfg.publicUrl,
                  "the URL clients and nodes reach the API at, for DATA/kuiga.conf");
}

// How a worker or plexer joins its master.
static void addJoinOptions(CLI::App* cmd, WorkerNodeOptions& w) {
  cmd->add_option("--join-token", w.joinToken,
                  "a join token (kuiga token create --role join), to enroll once; the "
                  "certificate is kept in STATE/pki/")
      ->envname("KUIGA_JOIN_TOKEN");
  cmd->add_option("--master-ca", w.masterCaFile,
                  "the CA of the master's HTTPS certificate, when it is the operator's own "
                  "(default: the cluster CA)");
}

static void addRuntimeOptions(CLI::App* cmd, WorkerNodeOptions& w) {
  cmd->add_option("--expose", w.exposed,
                  "a host path instances see read-only, beside the system directories "
                  "(repeatable)");
  cmd->add_option("--uid-base", w.uidBase,
                  "the first of the 65,536 uids its instances run as (default 200000); "
                  "workers on one host need ranges apart, since per-uid limits such as "
                  "limits.pids count across them")
      ->check(CLI::Range(uint32_t{1000}, uint32_t{4294967295u - 65536u - 1u}));
  cmd->add_option("--runtime", w.runtime, "how instances run: ns (default) or docker")
      ->check(CLI::IsMember({"ns", "docker"}));
  cmd->add_option("--docker-socket", w.dockerSocket,
                  "the Docker (or Podman) engine's socket, for --runtime docker")
      ->envname("DOCKER_SOCKET");
}

void S3Options::addTo(CLI::App* cmd) {
  auto* g = cmd->add_option_group("S3 image store",
                                  "images in an S3 bucket (credentials: --s3-credentials FILE, "
                                  "else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  g->add_option("--s3-endpoint", endpoint, "S3 endpoint URL, e.g. http://rgw.example:7480")
      ->envname("KUIGA_S3_ENDPOINT");
  g->add_option("--s3-bucket", bucket, "the bucket of images (it must exist)")
      ->envname("KUIGA_S3_BUCKET");
  g->add_option("--s3-region", region, "region for signing (default us-east-1)")
      ->envname("KUIGA_S3_REGION");
  g->add_option("--s3-addressing", addressing, "path (default) or virtual (bucket.host)")
      ->check(CLI::IsMember({"path", "virtual"}));
  g->add_option("--s3-credentials", credentialsFile, "AWS shared-credentials file")
      ->envname("KUIGA_S3_CREDENTIALS");
  g->add_option("--s3-profile", profile, "profile in the credentials file (default: default)");
  g->add_option("--s3-part-size", partMiB, "multipart part size in MiB (5 to 5120)")
      ->check(CLI::Range(5, 5120));
}

Result<std::optional<imagestore::S3Config>> S3Options::config() const {
  if (endpoint.empty()) {
    if (!bucket.empty()) return failMsg("--s3-bucket needs --s3-endpoint");
    return std::optional<imagestore::S3Config>();
  }
  if (bucket.empty()) return failMsg("--s3-endpoint needs --s3-bucket");
  imagestore::S3Config c;
  c.endpoint = endpoint;
  c.bucket = bucket;
  c.region = region;
  c.addressing = addressing == "virtual" ? imagestore::S3Addressing::VirtualHost
                                         : imagestore::S3Addressing::Path;
  c.partSize = partMiB << 20;
  c.multipartThreshold = std::max<uint64_t>(c.multipartThreshold, c.partSize);
  auto creds = imagestore::loadS3Credentials(credentialsFile, profile);
  if (!creds) return fail(creds.error());
  c.credentials = *creds;
  KUIGA_TRY(imagestore::validate(c), "S3 image store");
  return std::optional<imagestore::S3Config>(c);
}

void addNodeCommands(CLI::App& app, CLI::App* workerCmd, int& exitCode) {
  static master::ServerConfig masterCfg;
  masterCfg.rpcAddress = "0.0.0.0:8751";
  auto* m = app.add_subcommand("master", "the master: REST API, scheduler, state, images");
  m->add_option("--data", masterCfg.dataDir, "data directory (state.db, images/)");
  m->add_option("--host", masterCfg.host, "API address to listen on");
  m->add_option("--port", masterCfg.port, "API port")->check(CLI::Range(0, 65535));
  m->add_option("--rpc", masterCfg.rpcAddress, "where workers connect, HOST:PORT");
  m->add_option("--max-upload", masterCfg.maxUploadBytes, "largest AUT upload in bytes");
  m->add_option("--admin-token-file", masterCfg.adminTokenFile,
                "at first start, the admin token is this file's, if it exists (kuiga token secret "
                "makes one)")
      ->envname("KUIGA_ADMIN_TOKEN_FILE");
  addConnectionOptions(m, masterCfg);
  addTlsOptions(m, masterCfg);
  static S3Options masterS3;
  masterS3.addTo(m);
  m->callback([&exitCode] { exitCode = runMaster(masterCfg, masterS3); });

  static WorkerNodeOptions w;
  workerCmd->add_option("--master", w.master, "the master's URL, https://HOST:8750");
  workerCmd->add_option("--name", w.name, "this worker's name (unique in the cluster)");
  workerCmd->add_option("--state-dir", w.stateDir, "worker state directory");
  workerCmd->add_option("--capacity", w.capacity, "instances this worker takes (1 to 50000)");
  workerCmd->add_option("--label", w.labels, "KEY=VALUE, repeatable");
  workerCmd->add_option("--underlay-address", w.underlayAddress,
                        "this host's address on a trusted network between workers: a run "
                        "spread over several workers is one radio network over VXLAN (UDP "
                        "4789, unauthenticated; the underlay's MTU must be 1550 or more)");
  workerCmd->add_flag("--remove-on-exit", w.removeOnExit,
                      "remove every instance on SIGTERM (default: leave them for a restart)");
  w.s3.addTo(workerCmd);
  addRuntimeOptions(workerCmd, w);
  addJoinOptions(workerCmd, w);
  workerCmd->callback([workerCmd, &exitCode] {
    if (!workerCmd->get_subcommands().empty()) return;
    if (w.master.empty()) {
      std::cerr << "kuiga worker: --master URL is required (or use a subcommand)\n";
      exitCode = 2;
      return;
    }
    exitCode = runWorkerNode(w);
  });

  // A plexer is the same node with no instances: the runs' cells (UE leases, media toward the
  // base stations, ZEP dispatchers) that the master places on it, reached over the underlay.
  static WorkerNodeOptions px;
  px.plexer = true;
  px.name = "plexer";
  px.stateDir = "./kuiga-data/plexer";
  auto* p = app.add_subcommand("plexer",
                               "a plexer: holds runs' cells, which every device of a "
                               "run reaches over its radio network");
  p->add_option("--master", px.master, "the master's URL, https://HOST:8750")->required();
  p->add_option("--name", px.name, "this plexer's name (unique in the cluster)");
  p->add_option("--state-dir", px.stateDir, "plexer state directory");
  p->add_option("--label", px.labels, "KEY=VALUE, repeatable");
  p->add_option("--underlay-address", px.underlayAddress,
                "this host's address on the trusted network between workers (VXLAN, UDP 4789)")
      ->required();
  p->add_flag("--remove-on-exit", px.removeOnExit,
              "remove its cells and radio namespace on SIGTERM (default: keep them for a restart)");
  addJoinOptions(p, px);
  p->callback([&exitCode] { exitCode = runWorkerNode(px); });

  static UpOptions up;
  up.worker.stateDir.clear();
  auto* u = app.add_subcommand("up", "all in one: master and one worker, data in ./kuiga-data");
  u->add_option("--data", up.server.dataDir, "data directory");
  u->add_option("--host", up.server.host, "API address");
  u->add_option("--port", up.server.port, "API port")->check(CLI::Range(0, 65535));
  u->add_option("--name", up.worker.name, "the worker's name");
  u->add_option("--max-upload", up.server.maxUploadBytes, "largest AUT upload in bytes");
  addConnectionOptions(u, up.server);
  addTlsOptions(u, up.server);
  u->add_option("--capacity", up.worker.capacity, "instances the worker takes");
  u->add_option("--demo", up.demo, "run a demo of N devices, print its jitter, delete it, exit")
      ->check(CLI::Range(1u, 50000u));
  u->add_option("--demo-seconds", up.demoSeconds, "how long the demo runs")
      ->check(CLI::Range(0.0, 86400.0));
  u->add_option("--demo-period", up.demoPeriodMs, "the demo AUT's period in ms")
      ->check(CLI::Range(1u, 3600000u));
  u->add_flag("--keep-on-exit", up.keepOnExit,
              "leave the instances running when stopping, for the next kuiga up to re-adopt");
  up.s3.addTo(u);
  addRuntimeOptions(u, up.worker);
  u->callback([&exitCode] { exitCode = runUp(up); });
}

}  // namespace kuiga::app
