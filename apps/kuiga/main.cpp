// kuiga: one binary, one subcommand per role. Wiring only; the work is in src/.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>

#include "apps/kuiga/commands.hpp"
#include "apps/kuiga/node_commands.hpp"

using namespace kuiga;

static void addBenchOptions(CLI::App* cmd, bench::InstancesBenchOptions& o, std::string& net,
                            std::string& isolation) {
  cmd->add_option("--count", o.count, "number of instances (1 to 50000)")
      ->check(CLI::Range(1u, 50000u));
  cmd->add_option("--app", o.app, "AUT taking START_MS PERIOD_MS (default: the periodic example)");
  cmd->add_option("--net", net, "network mode")
      ->check(CLI::IsMember({"veth", "tap", "tun", "none"}));
  cmd->add_option("--isolation", isolation, "instance (the default) or group (ns runtime)")
      ->check(CLI::IsMember({"instance", "group"}));
  cmd->add_option("--group-size", o.groupSize, "devices per group with --isolation group")
      ->check(CLI::Range(1u, kMaxGroupSize));
  cmd->add_option("--period", o.periodMs, "wakeup period in ms")->check(CLI::Range(1u, 3600000u));
  cmd->add_option("--spread", o.spreadMs, "spread start times evenly over MS (0: all at once)");
  cmd->add_option("--duration", o.durationS, "seconds to run after the start time")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--threads", o.threads, "threads for bulk operations (0: two per core)");
  cmd->add_option("--memory-limit", o.memoryLimitMiB, "MiB per instance (0: no memory cgroup)");
  cmd->add_option("--pids-limit", o.limits.pids, "processes per instance");
  cmd->add_option("--state-dir", o.stateDir, "state directory (default: a temporary one)");
  cmd->add_option("--runtime", o.runtime, "ns (default) or docker")
      ->check(CLI::IsMember({"ns", "docker"}));
  cmd->add_option("--docker-socket", o.dockerSocket, "the Docker engine's socket (docker runtime)")
      ->envname("DOCKER_SOCKET");
}

int main(int argc, char** argv) {
  // A closed stdout (`kuiga ... | head`) must not kill a worker that holds thousands of
  // instances: writes then fail with EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);
  app::limitAllocatorArenas();
  CLI::App app{"Kuiga Box: thousands of virtual IoT devices on Linux"};
  app.set_version_flag("--version", std::string("kuiga ") + KUIGA_VERSION);
  app.require_subcommand(1);
  // Logs go to stderr; stdout carries results (JSON, summaries) for scripts.
  spdlog::set_default_logger(spdlog::stderr_color_mt("kuiga"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "debug logging");

  bench::InstancesBenchOptions demo;
  demo.durationS = 10;
  demo.floor = false;
  std::string demoNet = "veth", demoIsolation = "instance";
  auto* demoCmd = app.add_subcommand("demo", "run a 100-device demo of the periodic AUT");
  addBenchOptions(demoCmd, demo, demoNet, demoIsolation);

  auto* benchCmd = app.add_subcommand("bench", "benchmarks that print figures");
  benchCmd->require_subcommand(1);
  bench::InstancesBenchOptions bi;
  std::string biNet = "veth", biIsolation = "instance";
  bool json = false;
  auto* instCmd =
      benchCmd->add_subcommand("instances", "create, start, run, stop, delete N instances");
  addBenchOptions(instCmd, bi, biNet, biIsolation);
  instCmd->add_flag("--json", json, "print one JSON object (progress goes to stderr)");
  instCmd->add_flag(
      "!--no-floor", bi.floor,
      "skip measuring the kernel's floor (floor_kib, above_floor_kib): a minute or two less");
  instCmd
      ->add_option("--floor-copies", bi.floorCopies,
                   "copies of each of the floor's pieces (default: as many as --count, at "
                   "least 300)")
      ->check(CLI::Range(size_t{1}, size_t{50000}));
  instCmd->add_flag("!--no-zygote", bi.zygote,
                    "each isolated init pivots into the root skeleton itself, as without the "
                    "zygote (to compare the two)");

  bench::ApiBenchOptions ba;
  bool baJson = false;
  auto* apiBench = benchCmd->add_subcommand("api", "POST /runs to all running, through the stack");
  apiBench->add_option("--count", ba.count, "instances (1 to 50000)")
      ->check(CLI::Range(1u, 50000u));
  apiBench->add_option("--running", ba.runningS, "seconds to run before stopping");
  apiBench
      ->add_option("--slow-clients", ba.slowClients,
                   "half-sent requests to hold while the run runs (0 to 10000)")
      ->check(CLI::Range(0u, 10000u));
  apiBench->add_option("--sse", ba.sse, "event streams to hold while the run runs (0 to 10000)")
      ->check(CLI::Range(0u, 10000u));
  apiBench->add_option("--hold", ba.holdS, "seconds to hold them, measuring other requests")
      ->check(CLI::Range(1.0, 3600.0));
  apiBench->add_option("--master", ba.masterUrl,
                       "a master that is up (http://IPv4:PORT), instead of one in this process");
  apiBench
      ->add_option("--token", ba.token, "a user token for --master (default: the client config's)")
      ->envname("KUIGA_TOKEN");
  apiBench->add_flag("--json", baJson, "print one JSON object (progress goes to stderr)");

  bench::MasterBenchOptions bm;
  bool bmJson = false;
  auto* masterBench =
      benchCmd->add_subcommand("master", "a master's memory for N devices' records");
  masterBench->add_option("--count", bm.count, "devices (1 to 50000)")
      ->check(CLI::Range(1u, 50000u));
  masterBench->add_option("--workers", bm.workers, "hollow workers (1 to 64)")
      ->check(CLI::Range(1u, 64u));
  masterBench->add_option("--runs", bm.runs, "runs one after the other")
      ->check(CLI::Range(1u, 100u));
  masterBench->add_flag("--json", bmJson, "print one JSON object (progress goes to stderr)");

  bench::PlexerBenchOptions bp;
  bool bpJson = false;
  auto* plexerBench =
      benchCmd->add_subcommand("plexer", "N senders at R frames/s: what the capture missed");
  plexerBench
      ->add_option("--workers", bp.workers,
                   "worker hosts the senders are spread over, one radio network over "
                   "VXLAN (1 to 8)")
      ->check(CLI::Range(1u, 8u));
  plexerBench->add_option("--senders", bp.senders, "sender instances (1 to 50000)")
      ->check(CLI::Range(1u, 50000u));
  plexerBench->add_option("--rate", bp.rate, "frames per second per sender");
  plexerBench->add_option("--frame-bytes", bp.frameBytes, "Ethernet frame size (60 to 1514)");
  plexerBench->add_option("--duration", bp.durationS, "seconds each sender sends");
  plexerBench->add_flag("--json", bpJson, "print one JSON object (progress goes to stderr)");

  bench::ZepBenchOptions bz;
  bool bzJson = false;
  auto* zepBench = benchCmd->add_subcommand(
      "zep", "N ZEP nodes at R frames/s on a random topology: what the dispatcher handled");
  zepBench
      ->add_option("--workers", bz.workers,
                   "worker hosts the nodes are spread over, the dispatcher on the first "
                   "(1 to 8)")
      ->check(CLI::Range(1u, 8u));
  zepBench->add_option("--nodes", bz.nodes, "zep-node instances (2 to 50000)")
      ->check(CLI::Range(2u, 50000u));
  zepBench->add_option("--rate", bz.rate, "frames per second per node");
  zepBench->add_option("--duration", bz.durationS, "seconds each node sends");
  zepBench->add_option("--radius", bz.radius, "radio range in the unit square");
  zepBench->add_option("--payload", bz.payloadBytes, "payload bytes per frame (2 to 100)");
  zepBench->add_option("--channel-queue", bz.channelQueue, "frames that may wait for the air");
  zepBench
      ->add_option("--isolation", bz.isolation,
                   "instance (the default) or group: groups share one veth link, and the "
                   "dispatcher tells their nodes apart by port")
      ->check(CLI::IsMember({"instance", "group"}));
  zepBench->add_option("--group-size", bz.groupSize, "nodes per group with --isolation group")
      ->check(CLI::Range(1u, kMaxGroupSize));
  zepBench->add_flag("--hello", bz.hello,
                     "each node says hello first (RIOT's socket_zep_hello), so the dispatcher "
                     "knows every node before its first frame");
  zepBench->add_flag("--unicast", bz.unicast,
                     "each node sends to one neighbour asking for ACKs (as RIOT's SubMAC), not "
                     "broadcast");
  zepBench->add_option("--acks", bz.acks, "who acknowledges: dispatcher or devices")
      ->check(CLI::IsMember({"dispatcher", "devices"}));
  zepBench->add_flag("--json", bzJson, "print one JSON object (progress goes to stderr)");

  bench::SeccompBenchOptions bs;
  bool bsJson = false;
  auto* seccompBench = benchCmd->add_subcommand(
      "seccomp", "what installing the instances' seccomp filter costs, N times");
  seccompBench->add_option("--count", bs.count, "installs, each in a child (1 to 100000)")
      ->check(CLI::Range(1u, 100000u));
  seccompBench->add_flag("--json", bsJson, "print one JSON object");

  bench::WakeupBenchOptions bw;
  bool bwJson = false;
  auto* wakeupBench = benchCmd->add_subcommand(
      "wakeups", "the machine's floor for `bench instances`: N bare copies of the AUT waking");
  wakeupBench->add_option("--count", bw.count, "copies (1 to 50000)")
      ->check(CLI::Range(1u, 50000u));
  wakeupBench->add_option("--app", bw.app, "AUT taking START_MS PERIOD_MS (default: periodic)");
  wakeupBench->add_option("--period", bw.periodMs, "wakeup period in ms")
      ->check(CLI::Range(1u, 3600000u));
  wakeupBench->add_option("--spread", bw.spreadMs, "spread start times evenly over MS");
  wakeupBench->add_option("--duration", bw.durationS, "seconds to run after the last start")
      ->check(CLI::Range(0.1, 86400.0));
  wakeupBench->add_flag("--netns", bw.netns, "each copy in a network namespace of its own");
  wakeupBench->add_flag("--json", bwJson, "print one JSON object (progress goes to stderr)");

  auto* workerCmd = app.add_subcommand("worker", "a worker: --master URL, or a subcommand");
  workerCmd->require_subcommand(0, 1);
  app::WorkerRunOptions wr;
  auto* runCmd = workerCmd->add_subcommand("run", "run N instances of an AUT until SIGINT/SIGTERM");
  runCmd->add_option("--app", wr.app, "the AUT")->required();
  runCmd->add_option("--count", wr.count, "number of instances");
  runCmd->add_option("--arg", wr.args, "AUT argument template, repeatable ({index}, {ipv4}, ...)");
  runCmd->add_option("--net", wr.net, "veth, tap or none");
  runCmd->add_option("--isolation", wr.isolation, "instance (the default) or group")
      ->check(CLI::IsMember({"instance", "group"}));
  runCmd->add_option("--group-size", wr.groupSize, "devices per group with --isolation group")
      ->check(CLI::Range(1u, kMaxGroupSize));
  runCmd->add_option("--run", wr.run, "run id");
  runCmd->add_option("--start-in", wr.startInMs, "{start_ms} is now plus this many ms");
  std::string stateDir = "./kuiga-data/worker", name = "local";
  bool destroy = false;
  auto* recoverCmd =
      workerCmd->add_subcommand("recover", "re-adopt or reap what a killed worker left behind");
  recoverCmd->add_flag("--destroy", destroy, "then remove everything, namespaces and cgroups too");
  for (auto* c : {runCmd, recoverCmd}) {
    c->add_option("--state-dir", c == runCmd ? wr.stateDir : stateDir, "worker state directory");
    c->add_option("--name", c == runCmd ? wr.name : name, "worker name");
  }

  int exitCode = -1;  // set by the commands that run as CLI11 callbacks
  app::addNodeCommands(app, workerCmd, exitCode);
  app::addClientCommands(app, exitCode);
  app::addAccessCommands(app, exitCode);
  app::addTestCommand(app, exitCode);

  CLI11_PARSE(app, argc, argv);
  if (exitCode >= 0) return exitCode;
  if (verbose) spdlog::set_level(spdlog::level::debug);
  for (auto* o : {&demo, &bi}) {
    o->initPath = app::defaultInitPath();
    o->gatePath = app::defaultGatePath();
    o->net = parseNetMode(o == &demo ? demoNet : biNet).value();
    o->isolation = parseIsolation(o == &demo ? demoIsolation : biIsolation).value();
    if (o->app.empty()) o->app = app::defaultExample("periodic");
  }
  if (*demoCmd) return app::runDemo(demo);
  if (*instCmd) return app::runBench(bi, json);
  if (*apiBench) return app::runApiBench(ba, baJson);
  if (*plexerBench) return app::runPlexerBench(bp, bpJson);
  if (*masterBench) return app::runMasterBench(bm, bmJson);
  if (*zepBench) return app::runZepBench(bz, bzJson);
  if (*seccompBench) return app::runSeccompBench(bs, bsJson);
  if (*wakeupBench) return app::runWakeupBench(bw, bwJson);
  if (*runCmd) return app::runWorker(wr);
  if (*recoverCmd) return app::recoverWorker(stateDir, name, destroy);
  return 0;
}
