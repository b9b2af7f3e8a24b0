// File: coordinator/planner/plan_builder.h
// -----------------------------------------------------------------------------
// The planner's entry point: a sync topology in, ChatLearn's sync plan out
// (ParameterSyncGroup, or ParameterSyncGroupwithHEP when `hep`). Pure: no I/O,
// no clock, no randomness; the same topology always gives the same plan.
//
// Example:
//   ASSIGN_OR_RETURN(planner::SyncPlan plan, planner::BuildSyncPlan(topology));
//   for (const auto& [send, recv] : plan.stage1) ...
#ifndef PARAMSYNC_COORDINATOR_PLANNER_PLAN_BUILDER_H_
#define PARAMSYNC_COORDINATOR_PLANNER_PLAN_BUILDER_H_

#include "absl/status/statusor.h"
#include "coordinator/planner/sync_plan.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

// Returns the plan the seed computes for `topology`, except where the seed
// would crash or leave an inference rank without weights: such topologies are
// either planned so that every inference rank receives (the seed's mapping with
// a send order that does not crash; broadcast kept for two-stage syncs that the
// seed would switch to p2p and then refuse) or refused.
//
// Every refusal is INVALID_ARGUMENT with a message naming the field(s), the
// value and what would be accepted: malformed sizes, engines or comm types,
// endpoints that do not match the sizes (checked only once the sizes are
// plannable, so `endpoints` may be empty for a topology refused by its sizes),
// and every topology the seed refuses.
absl::StatusOr<SyncPlan> BuildSyncPlan(const SyncTopology& topology);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_PLAN_BUILDER_H_
