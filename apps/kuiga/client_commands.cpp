// `kuiga run ...`, `logs`, `console`, `jitter`, `workers`: clients of the REST API (exit
// codes: cli_common.hpp).
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "apps/kuiga/cli_common.hpp"
#include "apps/kuiga/node_commands.hpp"
#include "client/api_client.hpp"

namespace kuiga::app {

namespace {

using json = nlohmann::json;

std::string countsLine(const json& run) {
  std::string s;
  for (auto& [k, v] : run["counts"].items())
    if (v.get<uint64_t>() > 0)
      s += fmt::format("{}{} {}", s.empty() ? "" : ", ", v.get<uint64_t>(), k);
  return s.empty() ? "-" : s;
}

void printRun(const json& r) {
  std::cout << fmt::format("run {} ({}): {}{}\n", r["id"].get<int>(),
                           printable(r["name"].get<std::string>()), r["state"].get<std::string>(),
                           r["reason"].get<std::string>().empty()
                               ? ""
                               : " - " + printable(r["reason"].get<std::string>()));
  std::cout << fmt::format("  instances: {} ({})\n", r["count"].get<int>(), countsLine(r));
  std::cout << fmt::format("  image: {}\n  created: {}\n", r["spec"]["image"].get<std::string>(),
                           r["created"].get<std::string>());
  if (r.value("logs", "available") != "available")
    std::cout << fmt::format("  logs: {}\n", r["logs"].get<std::string>());
  if (r.contains("cell") && r["cell"].is_object()) {
    const auto moves = r["cell"].value("moves", uint64_t{0});
    std::cout << fmt::format("  cell: on {}{}\n",
                             printable(r["cell"].value("worker", std::string())),
                             moves ? fmt::format(" (moved {} times)", moves) : "");
  }
  if (!r["progress"].is_null())
    std::cout << fmt::format("  {}: {}/{}\n", r["progress"]["operation"].get<std::string>(),
                             r["progress"]["done"].get<uint64_t>(),
                             r["progress"]["total"].get<uint64_t>());
}

// Polls the run until pred holds, drawing a progress bar on a terminal.
Result<json> watch(client::ApiClient& api, int id, const std::function<bool(const json&)>& pred,
                   const std::string& what) {
  bool tty = ::isatty(STDERR_FILENO);
  for (;;) {
    auto r = api.get(fmt::format("/api/v1/runs/{}", id));
    if (!r) return r;
    uint64_t total = (*r)["count"];
    uint64_t done = 0;
    for (const char* s : {"running", "terminated", "failed"})
      if (what == "start") done += (*r)["counts"][s].get<uint64_t>();
    if (what == "create")
      for (const char* s : {"booting", "running", "terminated", "failed"})
        done += (*r)["counts"][s].get<uint64_t>();
    if (tty) {
      int width = 40, filled = total ? static_cast<int>(width * done / total) : width;
      std::cerr << fmt::format("\r{:<7} [{}{}] {}/{}", what, std::string(filled, '#'),
                               std::string(width - filled, ' '), done, total)
                << std::flush;
    }
    if (pred(*r) || (*r)["state"] == "dirty") {
      if (tty) std::cerr << "\n";
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

void addClientCommands(CLI::App& app, int& exitCode) {
  static ClientOptions c;
  auto common = [](CLI::App* cmd) { addClientOptions(cmd, c); };
  auto print = [](const json& j, const std::function<void()>& human) {
    if (c.json)
      std::cout << j.dump() << "\n";
    else
      human();
  };

  auto* run = app.add_subcommand("run", "test runs: create, ls, show, history, start, stop, rm");
  run->require_subcommand(1);

  static std::string appPath, profile = "linux", net, args, policy = "dirty";
  static uint32_t count = 0, periodMs = 0, groupSize = 0;
  static std::string isolation;
  static bool start = false;
  static std::string name, radio, zep, zepTopology;
  auto* create = run->add_subcommand("create", "upload an AUT and create a run of N instances");
  common(create);
  create->add_option("--app", appPath, "the AUT (an ELF executable)")->required();
  create->add_option("--count", count, "instances (1 to 50000)")->required();
  create->add_option("--profile", profile, "linux, riot-native or contiki-native");
  create->add_option("--net", net, "veth, tap or none (default: the profile's)");
  create->add_option("--isolation", isolation,
                     "instance (the default: namespaces of its own) or group (devices share "
                     "a group's, each under its own uid; net none)");
  create->add_option("--group-size", groupSize, "devices per group with --isolation group (1000)");
  create->add_option("--args", args, "argument template, e.g. \"{start_ms} {period_ms}\"");
  create->add_option("--name", name, "a name for the run");
  create->add_option("--period", periodMs, "period of a timed AUT in ms (for jitter)");
  create->add_option("--policy", policy, "on a lost worker: dirty or reschedule");
  create->add_option("--radio", radio,
                     "the way to a base station, JSON: '{\"uplink\": \"NETNS\", \"ues\": 100}'");
  create->add_option("--zep", zep,
                     "an IEEE 802.15.4 radio over ZEP, JSON: '{\"topology\": \"grid\", "
                     "\"probability\": 0.9}'");
  create->add_option("--zep-topology", zepTopology,
                     "a topology file in RIOT zep_dispatch's format (\"A B [p_ab] [p_ba]\")");
  create->add_flag("--start", start, "start the run once it is ready");
  create->callback([&exitCode, print] {
    client::ApiClient api = apiFor(c);
    json spec = {{"count", count}, {"profile", profile}, {"policy", policy}};
    if (!net.empty()) spec["net"] = net;
    if (!isolation.empty()) spec["isolation"] = isolation;
    if (groupSize) spec["group_size"] = groupSize;
    if (!args.empty()) spec["args"] = args;
    if (!name.empty()) spec["name"] = name;
    if (periodMs) spec["period_ms"] = periodMs;
    if (!radio.empty()) {
      spec["radio"] = json::parse(radio, nullptr, false);
      if (spec["radio"].is_discarded()) {
        std::cerr << "kuiga run create: --radio is not JSON: " << radio << "\n";
        return void(exitCode = 2);
      }
    }
    if (!zep.empty()) {
      spec["zep"] = json::parse(zep, nullptr, false);
      if (!spec["zep"].is_object()) {
        std::cerr << "kuiga run create: --zep is not a JSON object: " << zep << "\n";
        return void(exitCode = 2);
      }
    }
    if (!zepTopology.empty()) {
      std::ifstream in(zepTopology);
      if (!in) {
        std::cerr << "kuiga run create: cannot read --zep-topology " << zepTopology << "\n";
        return void(exitCode = 2);
      }
      std::stringstream text;
      text << in.rdbuf();
      if (!spec.contains("zep")) spec["zep"] = json::object();
      spec["zep"]["topology"] = "links";
      spec["zep"]["links"] = text.str();
    }
    auto r = api.upload("/api/v1/runs", appPath, "aut", {{"spec", spec.dump()}});
    if (!r) return void(exitCode = failWith("run create", r.error()));
    if (r->status != 201) return void(exitCode = failWith("run create", client::errorOf(*r)));
    int id = r->body["id"];
    if (!c.json) std::cout << fmt::format("created run {}\n", id);
    auto ready = watch(
        api, id, [](const json& j) { return j["state"] != "pending"; }, "create");
    if (!ready) return void(exitCode = failWith("run create", ready.error()));
    if ((*ready)["state"] == "dirty") {
      print(*ready, [&] { printRun(*ready); });
      return void(exitCode = 1);
    }
    if (start) {
      if (auto s = api.post(fmt::format("/api/v1/runs/{}/start", id)); !s)
        return void(exitCode = failWith("run create", s.error()));
      uint64_t n = count;
      ready = watch(
          api, id,
          [n](const json& j) {
            return j["counts"]["running"].get<uint64_t>() +
                       j["counts"]["terminated"].get<uint64_t>() >=
                   n;
          },
          "start");
      if (!ready) return void(exitCode = failWith("run create", ready.error()));
    }
    print(*ready, [&] { printRun(*ready); });
    exitCode = (*ready)["state"] == "dirty" ? 1 : 0;
  });

  auto* ls = run->add_subcommand("ls", "list runs (not deleted ones, unless --all)");
  common(ls);
  static bool withDeleted = false;
  static std::string state;
  static uint32_t offset = 0, limit = 100;
  ls->add_flag("--all", withDeleted, "deleted runs too");
  ls->add_option("--state", state, "only runs in this state");
  ls->add_option("--offset", offset, "skip this many runs");
  ls->add_option("--limit", limit, "at most this many runs (1 to 1000)")
      ->check(CLI::Range(1u, 1000u));
  ls->callback([&exitCode, print] {
    client::ApiClient api = apiFor(c);
    auto r = api.get(fmt::format("/api/v1/runs?offset={}&limit={}&deleted={}{}", offset, limit,
                                 withDeleted ? 1 : 0, state.empty() ? "" : "&state=" + state));
    if (!r) return void(exitCode = failWith("run ls", r.error()));
    print(*r, [&] {
      std::cout << fmt::format("{:>5}  {:<16} {:<8} {:>7}  {}\n", "ID", "NAME", "STATE", "COUNT",
                               "INSTANCES");
      for (const auto& x : (*r)["items"])
        std::cout << fmt::format("{:>5}  {:<16} {:<8} {:>7}  {}\n", x["id"].get<int>(),
                                 printable(x["name"].get<std::string>()),
                                 x["state"].get<std::string>(), x["count"].get<int>(),
                                 countsLine(x));
      uint64_t total = (*r)["total"].get<uint64_t>();
      if (total > offset + (*r)["items"].size())
        std::cout << fmt::format("({} of {} shown; --offset {} for more)\n", (*r)["items"].size(),
                                 total, offset + (*r)["items"].size());
    });
    exitCode = 0;
  });

  static int runId = 0;
  struct Action {
    const char* name;
    const char* help;
    const char* method;
    const char* suffix;
  };
  for (const Action& a :
       {Action{"show", "show a run", "GET", ""},
        Action{"start", "start a ready run", "POST", "/start"},
        Action{"stop", "stop a running run", "POST", "/stop"},
        Action{"rm", "delete a run, its instances and logs", "DELETE", ""},
        Action{"rm-logs", "remove the logs a deleted run kept", "DELETE", "/logs"}}) {
    auto* cmd = run->add_subcommand(a.name, a.help);
    common(cmd);
    cmd->add_option("RUN", runId, "run id")->required();
    static bool keepLogs = false;
    if (std::string(a.name) == "rm")
      cmd->add_flag("--keep-logs", keepLogs,
                    "keep its logs and captures readable (kuiga run rm-logs removes them)");
    // Churn: some devices of a running run stopped, or started again.
    static std::vector<uint32_t> devices;
    const bool churn = std::string(a.name) == "start" || std::string(a.name) == "stop";
    if (churn)
      cmd->add_option(
             "--instances", devices,
             std::string("only these devices of a running run, e.g. 3,4 (") +
                 (std::string(a.name) == "stop" ? "stopped: SIGTERM, then SIGKILL after 5 s)"
                                                : "started again: a terminated one is made anew)"))
          ->delimiter(',');
    cmd->callback([&exitCode, print, a, churn] {
      client::ApiClient api = apiFor(c);
      if (churn && !devices.empty()) {
        auto r = api.post(fmt::format("/api/v1/runs/{}/instances{}", runId, a.suffix),
                          {{"instances", devices}});
        if (!r) return void(exitCode = failWith(fmt::format("run {}", a.name), r.error()));
        print(*r, [&] {
          std::cout << fmt::format("{} {} of {} devices\n",
                                   std::string(a.name) == "stop" ? "stopping" : "starting",
                                   (*r)["instances"].get<uint32_t>(), devices.size());
        });
        return void(exitCode = 0);
      }
      std::string path = fmt::format("/api/v1/runs/{}{}{}", runId, a.suffix,
                                     std::string(a.name) == "rm" && keepLogs ? "?keep_logs=1" : "");
      auto r = std::string(a.method) == "GET"    ? api.get(path)
               : std::string(a.method) == "POST" ? api.post(path)
                                                 : api.del(path);
      if (!r) return void(exitCode = failWith(fmt::format("run {}", a.name), r.error()));
      print(*r, [&] { printRun(*r); });
      exitCode = 0;
    });
  }

  auto* history = run->add_subcommand("history", "a run's states, with reasons, and cell moves");
  common(history);
  history->add_option("RUN", runId, "run id")->required();
  history->callback([&exitCode, print] {
    client::ApiClient api = apiFor(c);
    auto r = api.get(fmt::format("/api/v1/runs/{}/history", runId));
    if (!r) return void(exitCode = failWith("run history", r.error()));
    print(*r, [&] {
      for (const auto& e : (*r)["events"]) {
        const std::string what = e.value("kind", "") == "state" ? e.value("state", "") : "cell";
        const std::string detail = e.value("detail", "");
        std::cout << fmt::format("{}  {:<8} {}\n", printable(e.value("time", "")), printable(what),
                                 printable(detail));
      }
    });
    exitCode = 0;
  });

  static uint32_t instance = 0;
  static bool follow = false;
  static bool hasInstance = false;
  auto* logs = app.add_subcommand("logs", "the instances' output, merged or one");
  common(logs);
  logs->add_option("RUN", runId, "run id")->required();
  auto* instOpt = logs->add_option("--instance", instance, "one instance's log");
  logs->add_flag("-f,--follow", follow, "keep printing what is added");
  logs->callback([&exitCode, instOpt] {
    hasInstance = instOpt->count() > 0;
    client::ApiClient api = apiFor(c);
    std::string path = hasInstance
                           ? fmt::format("/api/v1/runs/{}/instances/{}/logs", runId, instance)
                           : fmt::format("/api/v1/runs/{}/logs", runId);
    if (follow) path += "?follow=1";
    auto r = api.stream(path, [](std::string_view d) {
      std::cout.write(d.data(), static_cast<std::streamsize>(d.size()));
      std::cout.flush();
      return static_cast<bool>(std::cout);
    });
    exitCode = r ? 0 : failWith("logs", r.error());
  });

  static std::string line;
  auto* console = app.add_subcommand("console", "write a line to an instance's stdin");
  common(console);
  console->add_option("RUN", runId, "run id")->required();
  static bool all = false;
  static uint32_t rate = 100;
  auto* one = console->add_option("--instance", instance, "instance index");
  auto* every = console->add_flag("--all", all, "every running instance of the run");
  one->excludes(every);
  console->add_option("--rate", rate, "with --all: instances a second (default 100)");
  console->add_option("LINE", line, "the line")->required();
  console->callback([&exitCode, one] {
    client::ApiClient api = apiFor(c);
    if (!all && one->count() == 0) {
      std::cerr << "kuiga console: give --instance K or --all\n";
      return void(exitCode = 2);
    }
    if (all) {
      auto r =
          api.post(fmt::format("/api/v1/runs/{}/console", runId), {{"line", line}, {"rate", rate}});
      if (r && !c.json)
        std::cout << fmt::format("sending to {} instances, {} a second\n",
                                 (*r)["instances"].get<uint32_t>(), rate);
      return void(exitCode = r ? 0 : failWith("console", r.error()));
    }
    auto r = api.post(fmt::format("/api/v1/runs/{}/instances/{}/console", runId, instance),
                      {{"line", line}});
    exitCode = r ? 0 : failWith("console", r.error());
  });

  auto* jitter = app.add_subcommand("jitter", "deadline-jitter statistics of a run (ms)");
  common(jitter);
  jitter->add_option("RUN", runId, "run id")->required();
  jitter->callback([&exitCode, print] {
    client::ApiClient api = apiFor(c);
    auto r = api.get(fmt::format("/api/v1/runs/{}/jitter", runId));
    if (!r) return void(exitCode = failWith("jitter", r.error()));
    print(*r, [&] {
      auto row = [](const std::string& who, const json& s) {
        std::cout << fmt::format("{:<10} {:>8} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f}\n", who,
                                 s["samples"].get<uint64_t>(), s["p50"].get<double>(),
                                 s["p95"].get<double>(), s["p99"].get<double>(),
                                 s["max"].get<double>());
      };
      std::cout << fmt::format("{:<10} {:>8} {:>9} {:>9} {:>9} {:>9}\n", "", "SAMPLES", "P50",
                               "P95", "P99", "MAX");
      row("run", (*r)["run"]);
      size_t shown = 0;
      for (const auto& i : (*r)["instances"])
        if (shown++ < 20) row(fmt::format("dev-{:04d}", i["index"].get<int>()), i);
      if (shown > 20)
        std::cout << fmt::format("({} more instances; --json shows all)\n", shown - 20);
    });
    exitCode = 0;
  });

  auto* pcap = app.add_subcommand("pcap", "a run's frames as pcapng (one interface per device)");
  common(pcap);
  pcap->add_option("RUN", runId, "run id")->required();
  static std::optional<uint32_t> pcapInstance;
  pcap->add_option("--instance", pcapInstance, "only this instance's interface and frames");
  pcap->callback([&exitCode] {
    if (::isatty(STDOUT_FILENO)) {
      std::cerr << "kuiga pcap: stdout is a terminal; redirect it: kuiga pcap RUN > run.pcapng\n";
      exitCode = 2;
      return;
    }
    client::ApiClient api = apiFor(c);
    std::string path = fmt::format("/api/v1/runs/{}/pcap", runId);
    if (pcapInstance) path += fmt::format("?instance={}", *pcapInstance);
    auto r = api.stream(path, [](std::string_view d) {
      std::cout.write(d.data(), static_cast<std::streamsize>(d.size()));
      return static_cast<bool>(std::cout);
    });
    std::cout.flush();
    exitCode = r ? 0 : failWith("pcap", r.error());
  });

  auto* radioCmd =
      app.add_subcommand("radio", "what the Plexer counted: capture, UEs, medium, drops");
  common(radioCmd);
  radioCmd->add_option("RUN", runId, "run id")->required();
  static bool leases = false;
  radioCmd->add_flag("--leases", leases, "print the UE lease log instead");
  radioCmd->callback([&exitCode, print] {
    client::ApiClient api = apiFor(c);
    if (leases) {
      auto r =
          api.stream(fmt::format("/api/v1/runs/{}/radio/leases", runId), [](std::string_view d) {
            std::cout.write(d.data(), static_cast<std::streamsize>(d.size()));
            return static_cast<bool>(std::cout);
          });
      std::cout.flush();
      return void(exitCode = r ? 0 : failWith("radio", r.error()));
    }
    auto r = api.get(fmt::format("/api/v1/runs/{}/radio", runId));
    if (!r) return void(exitCode = failWith("radio", r.error()));
    print(*r, [&] {
      const json& j = *r;
      std::cout << fmt::format(
          "captured: {} frames sent by the devices, {} delivered to them; missed {} ({:.4f}%), "
          "ring drops {}\n",
          j["sent_frames"].get<uint64_t>(), j["delivered_frames"].get<uint64_t>(),
          j["missed_frames"].get<uint64_t>(), j["missed_ratio"].get<double>() * 100,
          j["ring_drops"].get<uint64_t>());
      if (!j["zep"].is_null()) {
        const json& z = j["zep"];
        std::cout << fmt::format(
            "ZEP radio: {} frames on the air, {} copies delivered, {} acked, {} retransmitted, "
            "{} lost on links, {} dropped waiting for the channel, {} with no listener, {} for "
            "devices not heard yet\n",
            z["sent"].get<uint64_t>(), z["received"].get<uint64_t>(), z.value("acks", 0ull),
            z.value("retransmissions", 0ull), z["lost_on_links"].get<uint64_t>(),
            z["dropped_channel"].get<uint64_t>(), z["no_listener"].get<uint64_t>(),
            z["unreachable"].get<uint64_t>());
        constexpr auto kRow = "{:<20} {:>8} {:>9} {:>7} {:>7} {:>8} {:>8} {:>8} {:>11} {:>6}\n";
        std::cout << fmt::format(kRow, "DEVICE", "SENT", "RECEIVED", "ACKED", "RETRIES", "LOST",
                                 "CHANNEL", "NOBODY", "UNREACHABLE", "HELLOS");
        for (const auto& d : j["devices"]) {
          if (!d.contains("zep")) continue;
          const json& e = d["zep"];
          auto n = [&](const char* k) { return e.value(k, 0ull); };
          std::cout << fmt::format(kRow, d["name"].get<std::string>(), n("sent"), n("received"),
                                   n("acks"), n("retransmissions"), n("lost_on_links"),
                                   n("dropped_channel"), n("no_listener"), n("unreachable"),
                                   n("hellos"));
        }
      }
      if (j["cells"].empty()) {
        std::cout << "no way to a base station: no \"radio\" in the run spec\n";
        return;
      }
      std::cout << fmt::format(
          "base station: {} sent toward it, {} forwarded, {} back, {} queued for a UE; {} "
          "dropped by the kernel before the Plexer read them\n",
          j["to_station_frames"].get<uint64_t>(), j["uplink_frames"].get<uint64_t>(),
          j["downlink_frames"].get<uint64_t>(), j["queued_frames"].get<uint64_t>(),
          j.value("gateway_drops", uint64_t{0}));
      std::string drops;
      for (const auto& [k, v] : j["dropped"].items())
        drops += fmt::format("{}{} {}", drops.empty() ? "" : ", ", k, v.get<uint64_t>());
      std::cout << "dropped: " << drops << "\n";
      std::cout << fmt::format("{:<16} {:<12} {:>6} {:>7} {:>7} {:>9} {:>9} {:>7} {:>11}\n",
                               "WORKER", "UPLINK", "UES", "LEASES", "MAX", "GRANTS", "RELEASES",
                               "QUEUE", "AIRTIME_MS");
      for (const auto& cell : j["cells"])
        std::cout << fmt::format("{:<16} {:<12} {:>6} {:>7} {:>7} {:>9} {:>9} {:>7} {:>11.1f}\n",
                                 cell["worker"].get<std::string>(),
                                 cell["uplink"].get<std::string>(), cell["ues"].get<uint64_t>(),
                                 cell["leases"].get<uint64_t>(), cell["max_leases"].get<uint64_t>(),
                                 cell["grants"].get<uint64_t>(), cell["releases"].get<uint64_t>(),
                                 cell["queue_depth"].get<uint64_t>(),
                                 cell["airtime_ms"].get<double>());
    });
    exitCode = 0;
  });

  auto* workers = app.add_subcommand("workers", "the cluster's workers (rm: an admin's)");
  common(workers);
  addWorkerAdminCommands(workers, exitCode);
  workers->callback([workers, &exitCode, print] {
    if (!workers->get_subcommands().empty()) return;
    client::ApiClient api = apiFor(c);
    auto r = api.get("/api/v1/workers");
    if (!r) return void(exitCode = failWith("workers", r.error()));
    print(*r, [&] {
      std::cout << fmt::format("{:<16} {:<8} {:>8} {:>8} {:>8}  {}\n", "NAME", "HEALTH", "CAPACITY",
                               "LOAD", "FREE", "ADDRESS");
      for (const auto& w : *r)
        std::cout << fmt::format("{:<16} {:<8} {:>8} {:>8} {:>8}  {}\n",
                                 w["name"].get<std::string>(), w["health"].get<std::string>(),
                                 w["capacity"].get<uint64_t>(), w["load"].get<uint64_t>(),
                                 w["free"].get<uint64_t>(), w["address"].get<std::string>());
    });
    exitCode = 0;
  });
}

}  // namespace kuiga::app
