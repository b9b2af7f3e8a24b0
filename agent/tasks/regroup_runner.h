// File: agent/tasks/regroup_runner.h
// -----------------------------------------------------------------------------
// This agent's part of one RegroupTask: one grouped many-to-many exchange of
// tensor boxes inside a collective group, so that ranks that send to and
// receive from each other never wait on one another.
// - HEP regroups (stage 0): trainer endpoints send the routed-expert pieces
//   other ranks need and assemble their own regrouped tensors from the pieces
//   they receive, in staging buffers that the sync's later tasks send from.
// - Direct syncs (stage 1, RegroupPiece.lands_in_tensor): trainer endpoints
//   send boxes of their tensors that land straight in inference endpoints'
//   registered tensors.
//
// Pieces between two ranks on this agent are box copies, without the
// transport. Between agents, a box that is one contiguous range of its tensor
// is sent from, or received into, the tensor itself; pieces marked joins_next
// move with the next as one operation; only other boxes travel packed (a box
// of a tensor, back to back), each distinct box of a tensor packed once.
#ifndef PARAMSYNC_AGENT_TASKS_REGROUP_RUNNER_H_
#define PARAMSYNC_AGENT_TASKS_REGROUP_RUNNER_H_

#include <atomic>
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

// Most pieces one task may hold, and most (sender, receiver) pairs of this
// agent one task may exchange (each may take a thread in the transport): real
// plans stay far below both. Larger requests are refused (INVALID_ARGUMENT).
inline constexpr int kMaxRegroupPieces = 1 << 18;
inline constexpr size_t kMaxRegroupPairs = 1024;
// Distinct boxes of one source tensor a task may pack, in bytes, as a
// multiple of the tensor's size (the boxes of one layout partition it; each
// differing receiver layout adds one partition).
inline constexpr uint64_t kMaxPackedPerTensor = 16;

struct RegroupContext {
  uint64_t sync_id = 0;
  absl::Time deadline;
  std::string self_address;  // Members at this address are this agent's.
  const TensorRegistry* tensors = nullptr;
  Transport* transport = nullptr;
  MemoryOps* memory = nullptr;
  StagingStore* staging = nullptr;  // Receives each local rank's regrouped tensors.
  // Bytes, and tensors, written into this agent's registered tensors by
  // lands_in_tensor pieces (added once the task succeeded).
  std::atomic<int64_t>* bytes_written = nullptr;
  std::atomic<int64_t>* tensors_written = nullptr;
};

// Runs `task` inside `group`. Errors name the tensors and ranks.
absl::Status RunRegroup(const v1::RegroupTask& task, const CollectiveGroup& group,
                        const RegroupContext& context);

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TASKS_REGROUP_RUNNER_H_
