// File: agent/tasks/regroup_runner.h
// -----------------------------------------------------------------------------
// This agent's part of one RegroupTask (HEP syncs): its trainer endpoints send
// the routed-expert pieces other ranks need and assemble their own regrouped
// tensors from the pieces they receive, in staging buffers that the sync's later
// tasks send from. One exchange per task, so ranks that send to and receive from
// each other never wait on one another.
//
// Pieces travel packed (a box of a tensor, back to back); a piece whose box is
// one contiguous range of its tensor is sent from, or received into, the tensor
// itself.
#ifndef PARAMSYNC_AGENT_TASKS_REGROUP_RUNNER_H_
#define PARAMSYNC_AGENT_TASKS_REGROUP_RUNNER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/memory/memory_ops.h"
#include "agent/tasks/group_table.h"
#include "agent/tasks/staging_store.h"
#include "agent/tensors/tensor_registry.h"
#include "agent/transport/transport.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::agent {

struct RegroupContext {
  uint64_t sync_id = 0;
  absl::Time deadline;
  std::string self_address;  // Members at this address are this agent's.
  const TensorRegistry* tensors = nullptr;
  Transport* transport = nullptr;
  MemoryOps* memory = nullptr;
  StagingStore* staging = nullptr;  // Receives each local rank's regrouped tensors.
};

// Runs `task` inside `group`. Errors name the tensor and ranks.
absl::Status RunRegroup(const v1::RegroupTask& task, const CollectiveGroup& group,
                        const RegroupContext& context);

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TASKS_REGROUP_RUNNER_H_
