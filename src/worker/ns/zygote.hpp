#pragma once
// The worker's side of the zygote (init/zygote_proto.h): a kuiga-init that stands in the root
// skeleton and clones isolated instances' inits there, so that no instance pays for a
// pivot_root, which walks every task of the host. The inits it clones are the worker's
// children, as those sys::spawn() starts are.
#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "sys/fd.hpp"
#include "sys/process.hpp"

namespace kuiga::worker::ns {

class Zygote {
 public:
  // Starts `initPath --zygote root` in a mount namespace of its own; once it stands in `root`
  // (the skeleton), it is ready. Fails, saying where, when it cannot.
  static Result<std::unique_ptr<Zygote>> start(const std::string& initPath,
                                               const std::string& root);
  ~Zygote();

  // Clones an init with `so`'s namespaces, descriptors, environment, blocked signals and
  // cgroup (so.path is ignored: the init is the zygote's own binary), and returns its pid once
  // it has exec'd. A zygote found dead is started again. Safe from any thread.
  Result<pid_t> spawn(const sys::SpawnOptions& so);

 private:
  Zygote(std::string initPath, std::string root)
      : initPath_(std::move(initPath)), root_(std::move(root)) {}
  VoidResult launch();
  VoidResult relaunch();
  VoidResult send(const std::string& message, const std::vector<int>& fds);
  Result<pid_t> receive();

  const std::string initPath_, root_;
  std::mutex mu_;
  sys::Child child_;
  sys::UniqueFd sock_;
};

}  // namespace kuiga::worker::ns
