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

// One collective operation of the sync: `root` sends one param group to
// `receivers` inside collective group `group_name`. Every transfer the plan
// implies is listed, so executors need not parse group names.
struct PlannedTransfer {
  // 1: trainer -> inference (single-stage syncs, stage 1 of two-stage syncs,
  // and routed experts); 2: inference -> inference inside a TP group, from a
  // stage-1 receiver (two-stage syncs).
  int stage = 1;
  // Which weights: "default" (all of them), or for HEP syncs whose routed
  // experts have their own mapping "except_routed" / "routed".
  std::string param_group;
  // The collective group it runs in: one of SyncPlan::collective_groups for
  // broadcast; for p2p the sync's group_name (the one global group).
  std::string group_name;
  int root = 0;                // Global sync rank that sends.
  std::vector<int> receivers;  // Global sync ranks that receive, in group order.
};

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
  // Whether the trainer really regroups them (HEP with vLLM inference); with
  // Megatron inference the seed lists the groups but routed experts travel as
  // they are.
  bool regroups_routed_experts = false;

  // Every collective group name the sync creates, sorted. For p2p only the
  // trainer's all-gather groups (the transfers run in the global group).
  std::vector<std::string> collective_groups;

  // Order in which the single-stage sync visits senders (round robin over
  // data-parallel ranks). Empty where the sync has no single-stage part.
  std::vector<int> send_order;

  // Every transfer of the pairs above: for broadcast one per collective group
  // (stage-1 and single-stage groups hold a sender and all its receivers,
  // stage-2 groups one pair); for p2p one per pair. In the order the seed runs
  // them: routed experts, then stage 1 (each in mapping order), then stage 2
  // (in the seed's batch order, as its group names number them). A root may
  // share a GPU with one of its receivers (colocated plans): that pair moves by
  // device copy, not through NCCL. VerifySyncPlan() (plan_verifier.h) checks
  // them against the topology. Not part of PlanToJson (the golden format).
  std::vector<PlannedTransfer> transfers;
};

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_SYNC_PLAN_H_
