#pragma once
// Control groups on both layouts users have: v2 (unified, most current distributions) and v1
// (one hierarchy per controller, as on this project's CI machine, where the v2 hierarchy at
// /sys/fs/cgroup/unified carries no controllers). One Cgroup spans every hierarchy it needs.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "sys/fd.hpp"

namespace kuiga::sys::cgroup {

enum class Version { V1, V2 };

struct Layout {
  Version version = Version::V2;
  std::string v2Root;  // mount point of cgroup2, when version == V2
  // v1 mount points of the controllers we use, when version == V1
  std::string memory, pids, cpu;
};

// Chooses v2 when its root offers memory and pids controllers, else v1 when those controllers
// are mounted. `prefer` forces a version (used by tests to exercise each one).
Result<Layout> detect(std::optional<Version> prefer = std::nullopt);
// The cgroup2 mount point, whether or not it has controllers ("" if none is mounted).
std::string findV2Mount();
// What a layout lets a worker enforce, in words for its log: the version, where, the
// controllers it has, whether it is the root of a cgroup namespace (a container's), and which
// limits it cannot enforce.
std::string describe(const Layout& layout);

struct Limits {
  uint64_t memoryBytes = 0;  // 0 = unlimited
  uint64_t pidsMax = 0;      // 0 = unlimited
  uint32_t cpuMilli = 0;     // CPU bandwidth in thousandths of a CPU, 0 = unlimited
};

// Which controllers a group uses. A memory cgroup is not cheap (about 160 KiB of kernel memory
// each on a 6.18 kernel), so groups without a memory limit go without one.
struct Controllers {
  bool memory = true;
  bool pids = true;
  bool cpu = true;
};

struct Events {
  uint64_t oomKills = 0;  // processes killed by the OOM killer for this group's limit
  uint64_t pidsMax = 0;   // forks refused because pids.max was reached
};

class Cgroup {
 public:
  // mkdir -p `relPath` in the hierarchy of each controller used (v1), or once (v2), where the
  // controllers used are enabled in every ancestor's cgroup.subtree_control. The pids
  // controller is always used: it lists and kills the group's processes on v1.
  static Result<Cgroup> create(const Layout& layout, const std::string& relPath,
                               Controllers controllers = {});
  // Refers to an existing group (for recovery), in any hierarchy; nothing is created.
  static Cgroup open(const Layout& layout, const std::string& relPath);

  Cgroup(Cgroup&&) noexcept = default;
  Cgroup& operator=(Cgroup&&) noexcept = default;
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  ~Cgroup() = default;  // groups outlive the object: destroy() is explicit

  [[nodiscard]] const std::string& relPath() const { return rel_; }
  [[nodiscard]] Version version() const { return layout_.version; }

  VoidResult setLimits(const Limits& limits);
  VoidResult addProcess(pid_t pid);
  // An O_DIRECTORY fd of the v2 group, for spawn() to join before exec.
  Result<UniqueFd> openDir() const;
  Result<std::vector<pid_t>> processes() const;
  Events events() const;
  // SIGKILL every process, until none is left (cgroup.kill where the kernel has it).
  VoidResult killAll();
  // Remove the group in every hierarchy; missing groups are success. A group stays busy for a
  // moment after its last process exits, so EBUSY is retried up to `busyRetries` times.
  VoidResult destroy(int busyRetries = 200);
  bool exists() const;

 private:
  Cgroup(Layout layout, std::string rel, Controllers c)
      : layout_(std::move(layout)), rel_(std::move(rel)), controllers_(c) {}
  std::vector<std::string> dirs() const;
  std::string file(const std::string& v1Root, const std::string& name) const;

  Layout layout_;
  std::string rel_;
  Controllers controllers_;
};

// Names of the groups directly below `relPath`, for reaping what a crashed owner left behind.
Result<std::vector<std::string>> listChildren(const Layout& layout, const std::string& relPath);

}  // namespace kuiga::sys::cgroup
