// File: coordinator/planner/topology_validation.h
// -----------------------------------------------------------------------------
// Structural checks of a SyncTopology, before any planning: sizes, engines,
// enum values, and endpoints that agree with the sizes and with Megatron's and
// vLLM's rank layouts. Every failure is INVALID_ARGUMENT with a message naming
// the field, its value and what would be accepted.
//
// Whether the planner supports a valid topology (TP/PP ratios, HEP rules) is
// decided separately, by ChooseSyncStrategy() (sync_strategy.h).
#ifndef PARAMSYNC_COORDINATOR_PLANNER_TOPOLOGY_VALIDATION_H_
#define PARAMSYNC_COORDINATOR_PLANNER_TOPOLOGY_VALIDATION_H_

#include "absl/status/status.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

// Largest accepted parallel size along any dimension, and number of ranks on
// either side: far above real jobs, low enough that no product overflows.
inline constexpr int kMaxParallelSize = 4096;
inline constexpr int kMaxRanksPerSide = 1 << 20;

// Checks group_name, comm types, engines and sizes; ignores endpoints.
absl::Status ValidateParallelism(const SyncTopology& topology);

// Checks that there is exactly one endpoint per rank and that each agrees with
// the sizes: trainer ranks first in Megatron's order
// (rank = pp_rank*tp*dp + dp_rank*tp + tp_rank, ep_rank = dp_rank % ep), then
// each inference replica's ranks (vLLM: tp_rank = local_rank % tp,
// pp_rank = local_rank / tp, dp_rank = ep_rank = 0). Requires
// ValidateParallelism() to pass.
absl::Status ValidateEndpoints(const SyncTopology& topology);

// Both of the above.
absl::Status ValidateTopology(const SyncTopology& topology);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_TOPOLOGY_VALIDATION_H_
