#pragma once
// Private parts of Master shared by its source files.
#include <future>

#include "master/run_service.hpp"
#include "rpc/control.pb.h"

namespace kuiga::master {

struct RunService::RunMem {
  RunState state = RunState::Pending;
  RunSpec spec;
  std::string owner;      // the user who created it
  std::string operation;  // bulk operation in flight, "" when none
  imagestore::Manifest manifest;
  // When the last create, start and stop were asked for (for the latency metrics); 0: not
  // since this master started.
  int64_t createdNs = 0, startedNs = 0, stoppedNs = 0;
  bool radioPeered = false;  // its workers were last told of each other (it spanned several)
  // The worker holding the run's cell (its gateway, UE leases, medium and ZEP dispatcher):
  // one for the whole run, whatever it spans. "": each worker its own (none has an underlay).
  std::string cellHost;
  uint32_t cellMoves = 0;  // times the cell was reopened elsewhere (its host was lost)
};

// The run's cell specs as the workers get them (seeded from the run when they name no seed):
// {radio JSON, ZEP JSON}, each "" when the run has none.
std::pair<std::string, std::string> cellSpecs(const RunSpec& spec);

int64_t nowNs();
// A store failure as the API answers it: 507 when the disk is full, 500 otherwise.
ApiError storeError(const Error& e);
rpc::InstanceRef toRef(InstanceId id);
InstanceId fromRef(const rpc::InstanceRef& r);

}  // namespace kuiga::master
