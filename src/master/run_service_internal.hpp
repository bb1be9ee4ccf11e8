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
  // Held while some of its devices stop or start (churn), and by the run's own stop and
  // delete before they act: a device started again never outlives its run's stop.
  std::shared_ptr<std::mutex> churn = std::make_shared<std::mutex>();
};

// The run's cell specs as the workers get them (seeded from the run when they name no seed):
// {radio JSON, ZEP JSON}, each "" when the run has none.
std::pair<std::string, std::string> cellSpecs(const RunSpec& spec);

// The create command for `indexes` of the run on one worker; the cell specs are the run's for
// the worker that holds its cell, "" for the others.
rpc::Command createCommand(RunId id, const RunSpec& spec, const std::vector<uint32_t>& indexes,
                           const std::string& radioJson, const std::string& zepJson);

int64_t nowNs();
// A store failure as the API answers it: 507 when the disk is full, 500 otherwise.
ApiError storeError(const Error& e);
rpc::InstanceRef toRef(InstanceId id);
InstanceId fromRef(const rpc::InstanceRef& r);

}  // namespace kuiga::master
