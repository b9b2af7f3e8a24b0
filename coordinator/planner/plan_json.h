// File: coordinator/planner/plan_json.h
// -----------------------------------------------------------------------------
// JSON forms of the planner's input and output, as in the golden cases
// (shared/golden/README.md) and `paramsyncctl plan --format json`.
//
// Example:
//   absl::StatusOr<SyncTopology> topology = TopologyFromJson(text);
//   absl::StatusOr<SyncPlan> plan =
//       topology.ok() ? BuildSyncPlan(*topology) : topology.status();
//   std::cout << (plan.ok() ? PlanToJson(*plan) : ErrorToJson(plan.status()));
#ifndef PARAMSYNC_COORDINATOR_PLANNER_PLAN_JSON_H_
#define PARAMSYNC_COORDINATOR_PLANNER_PLAN_JSON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/planner/sync_plan.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

// Parses a `topology` object: group_name, comm_type (required);
// regroup_comm_type ("alltoall" when absent), hep, colocated (false when
// absent); src and dst objects with engine (src "megatron", dst "vllm" when
// absent) and integer tp, pp, ep, dp, replicas (1 when absent); endpoints, an
// array of objects with model ("src" or "dst") and integer rank, replica,
// local_rank, node, gpu, tp_rank, pp_rank, ep_rank, dp_rank, or null / absent.
// Unknown keys are ignored. Malformed JSON, a missing required field or a value
// of the wrong type is INVALID_ARGUMENT naming the field; sizes and endpoints
// are checked later, by BuildSyncPlan(). Never throws.
absl::StatusOr<SyncTopology> TopologyFromJson(const std::string& json_text);

// One JSON object with the fields of a golden case's `expected`, in this order:
// comm_type, regroup_comm_type, tp_num_mapping, src_dp_ranks, dst_dp_ranks,
// stage1, stage2, routed_experts, regroup_groups, collective_groups, send_order.
// Pairs are [sender, receiver] arrays. An empty regroup_groups or send_order is
// null: the seed computes none for that sync.
std::string PlanToJson(const SyncPlan& plan);

// {"error": {"code": "INVALID_ARGUMENT", "message": "..."}} for a non-OK status
// (the code as absl::StatusCodeToString names it).
std::string ErrorToJson(const absl::Status& status);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_PLAN_JSON_H_
