// File: coordinator/sync/sync_participants.h
// -----------------------------------------------------------------------------
// Who takes part in a sync of one group: the trainer and inference endpoints in
// global sync-rank order (trainer ranks first, by model rank; then inference
// ranks by replica and local rank, ChatLearn's order), the agent of each, and the
// planner's view of them. Pure: registries' snapshots in, participants out.
#ifndef PARAMSYNC_COORDINATOR_SYNC_SYNC_PARTICIPANTS_H_
#define PARAMSYNC_COORDINATOR_SYNC_SYNC_PARTICIPANTS_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "coordinator/planner/sync_topology.h"
#include "coordinator/registry/endpoint_registry.h"
#include "coordinator/sync/lora_parameters.h"
#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::coordinator {

struct SyncRank {
  int sync_rank = 0;
  EndpointRecord endpoint;
  v1::AgentInfo agent;
};

struct SyncParticipants {
  // Index = sync rank. Each endpoint's parameters are those its group's LoRA
  // mode syncs (lora_parameters.h).
  std::vector<SyncRank> ranks;
  int num_src = 0;  // Ranks [0, num_src) are the trainer's.
  planner::SyncTopology topology;
  // LORA_MODE_MERGE groups: the trainer's base weights that adapters update,
  // which their agents merge before a sync (lora_merge_plan.h).
  AdaptedBases lora_bases;
};

// "model rank R (sync rank S)", for messages that name a rank.
std::string Describe(const SyncRank& rank);

// NOT_FOUND when a model has no endpoint; FAILED_PRECONDITION when the roles are
// wrong, a model is missing ranks (named), an endpoint's agent is gone, or the
// group's LoRA mode finds nothing to sync (ApplyLoraMode).
absl::StatusOr<SyncParticipants> BuildSyncParticipants(
    const v1::SyncGroupSpec& group, std::vector<EndpointRecord> src,
    std::vector<EndpointRecord> dst, const absl::flat_hash_map<std::string, v1::AgentInfo>& agents);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_SYNC_PARTICIPANTS_H_
