// File: coordinator/planner/sync_plan.h
// -----------------------------------------------------------------------------
// The planner's output: who sends which weights to whom, in which collective
// groups, for one sync group. Ranks are global sync ranks (see sync_topology.h).
// Field meanings match the `expected` object of the golden cases
// (shared/golden/README.md), which hold ChatLearn's own plans.
#ifndef PARAMSYNC_COORDINATOR_PLANNER_SYNC_PLAN_H_
#define PARAMSYNC_COORDINATOR_PLANNER_SYNC_PLAN_H_

#include <string>
#include <utility>
#include <vector>

#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

struct SyncPlan {
  // After the fallbacks: colocated with both TP sizes odd -> kP2P (only where
  // the sync is single-stage); kAllToAll -> kAllGather when src tp*ep != dst tp*ep.
  CommType comm_type = CommType::kBroadcast;
  RegroupCommType regroup_comm_type = RegroupCommType::kAllToAll;
  int tp_num_mapping = 1;  // dst.tp / src.tp.

  // The replica groups the mapping iterates: the trainer's data-parallel groups
  // (the expert-data-parallel groups when src.ep > 1) and one list per
  // inference replica.
  std::vector<std::vector<int>> src_dp_ranks;
  std::vector<std::vector<int>> dst_dp_ranks;

  // [sender, receiver] pairs, grouped by sender in first-seen order.
  std::vector<std::pair<int, int>> stage1;          // Trainer -> inference.
  std::vector<std::pair<int, int>> stage2;          // Inside inference (tp_num_mapping > 1).
  std::vector<std::pair<int, int>> routed_experts;  // Routed-expert weights (HEP).

  // Trainer rank groups that regroup routed experts before the sync, without
  // duplicates. Empty where the seed computes none.
  std::vector<std::vector<int>> regroup_groups;

  // Every collective group name the sync creates, sorted. Empty for p2p.
  std::vector<std::string> collective_groups;

  // Order in which the single-stage sync visits senders (round robin over
  // data-parallel ranks). Empty where the sync has no single-stage part.
  std::vector<int> send_order;
};

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_SYNC_PLAN_H_
