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
#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::coordinator {

struct SyncRank {
  int sync_rank = 0;
  EndpointRecord endpoint;
  v1::AgentInfo agent;
};

struct SyncParticipants {
  std::vector<SyncRank> ranks;  // Index = sync rank.
  int num_src = 0;              // Ranks [0, num_src) are the trainer's.
  planner::SyncTopology topology;
};

// "model rank R (sync rank S)", for messages that name a rank.
std::string Describe(const SyncRank& rank);

// NOT_FOUND when a model has no endpoint; FAILED_PRECONDITION when the roles are
// wrong, a model is missing ranks (named) or an endpoint's agent is gone.
absl::StatusOr<SyncParticipants> BuildSyncParticipants(
    const v1::SyncGroupSpec& group, const std::vector<EndpointRecord>& src,
    const std::vector<EndpointRecord>& dst,
    const absl::flat_hash_map<std::string, v1::AgentInfo>& agents);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_SYNC_PARTICIPANTS_H_
