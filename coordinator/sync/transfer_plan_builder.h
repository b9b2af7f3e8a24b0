// File: coordinator/sync/transfer_plan_builder.h
// -----------------------------------------------------------------------------
// Turns a rank-level SyncPlan into the work of each agent: the collective groups
// it must set up and the transfer tasks (one broadcast per sender and stage) its
// endpoints take part in, with every tensor each task moves. Pure.
//
// It is also the parameter-level check of the plan, before any byte moves: every
// parameter of every inference rank must arrive exactly once, with the dtype and
// the shape (the sender's shard, or its 1/k slice when dst TP = k x src TP) the
// rank registered; otherwise FAILED_PRECONDITION names the ranks and tensors.
#ifndef PARAMSYNC_COORDINATOR_SYNC_TRANSFER_PLAN_BUILDER_H_
#define PARAMSYNC_COORDINATOR_SYNC_TRANSFER_PLAN_BUILDER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/planner/sync_plan.h"
#include "coordinator/sync/staging_waves.h"
#include "coordinator/sync/sync_participants.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::coordinator {

struct AgentWork {
  v1::AgentInfo agent;
  v1::SetupGroupsRequest groups;
  v1::AgentTasks tasks;
  std::vector<v1::EndpointRef> receivers;  // Its inference endpoints: they commit the version.
};

struct TransferPlan {
  std::vector<AgentWork> agents;  // Every agent with at least one task.
  int64_t dst_tensors = 0;        // Tensors written across all inference ranks.
  int64_t dst_bytes = 0;          // Bytes written across all inference ranks.
  int waves = 1;                  // Staging waves (staging_waves.h).
  int64_t wire_bytes = 0;         // Bytes moved between ranks (wire_bytes.h).
};

struct TransferOptions {
  // Staging per endpoint and wave for syncs that stage (staging_waves.h); 0 or
  // less: no bound, one wave.
  int64_t staging_budget_bytes = kDefaultStagingBudgetBytes;
};

// `rank` as a member of a collective group.
v1::GroupMember MemberOf(const SyncRank& rank);

// The work of every agent of `by_agent` (keyed by agent id) and of every
// inference rank's agent, in agent-id order: each with its AgentInfo and its
// inference endpoints as the receivers that commit the version.
std::vector<AgentWork> FinishAgentWork(const SyncParticipants& participants,
                                       std::map<std::string, AgentWork> by_agent);

absl::StatusOr<TransferPlan> BuildTransferPlan(const planner::SyncPlan& plan,
                                               const SyncParticipants& participants,
                                               const TransferOptions& options = {});

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_TRANSFER_PLAN_BUILDER_H_
