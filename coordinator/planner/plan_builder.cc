#include "coordinator/planner/plan_builder.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "coordinator/planner/group_names.h"
#include "coordinator/planner/hep_mapping.h"
#include "coordinator/planner/rank_mapping.h"
#include "coordinator/planner/rank_placement.h"
#include "coordinator/planner/replica_groups.h"
#include "coordinator/planner/send_order.h"
#include "coordinator/planner/send_recv_mapping.h"
#include "coordinator/planner/sync_strategy.h"
#include "coordinator/planner/topology_validation.h"
#include "coordinator/planner/two_stage_mapping.h"

namespace paramsync::planner {
namespace {

// The mappings of one sync, before they are flattened into a SyncPlan.
struct Mappings {
  SendRecvMapping stage1;
  SendRecvMapping stage2;
  SendRecvMapping routed_experts;
  RankGroups regroup_groups;
};

absl::StatusOr<Mappings> MapRanks(const SyncTopology& topology, const SyncStrategy& strategy,
                                  const ReplicaGroups& groups, const RankPlacement& placement) {
  Mappings mappings;
  const bool reverse = strategy.reverse_src_groups;
  switch (strategy.weights) {
    case WeightMapping::kEqualTp: {
      RankMapping m = MapEqualTensorParallel(topology, groups, reverse);
      mappings.stage1 = std::move(m.pairs);
      mappings.regroup_groups = std::move(m.regroup_groups);
      break;
    }
    case WeightMapping::kExpertEqualTp: {
      RankMapping m = MapExpertParallel(topology, groups, reverse);
      mappings.stage1 = std::move(m.pairs);
      mappings.regroup_groups = std::move(m.regroup_groups);
      break;
    }
    case WeightMapping::kTwoStage: {
      ASSIGN_OR_RETURN(TwoStageMapping m,
                       MapTwoStage(topology, groups, placement, strategy.tp_num_mapping));
      mappings.stage1 = std::move(m.stage1);
      mappings.stage2 = std::move(m.stage2);
      break;
    }
  }
  // Only one of the passes above and below records regroup groups.
  switch (strategy.routed_experts) {
    case RoutedExpertMapping::kNone:
      break;
    case RoutedExpertMapping::kEqualTp: {
      RankMapping m = MapEqualTensorParallel(topology, groups, reverse);
      mappings.routed_experts = std::move(m.pairs);
      mappings.regroup_groups = std::move(m.regroup_groups);
      break;
    }
    case RoutedExpertMapping::kExpert:
    case RoutedExpertMapping::kRegroupOnly: {
      RankMapping m = MapExpertParallel(topology, groups, reverse);
      if (strategy.routed_experts == RoutedExpertMapping::kExpert) {
        mappings.routed_experts = std::move(m.pairs);
      }
      mappings.regroup_groups = std::move(m.regroup_groups);
      break;
    }
  }
  return mappings;
}

// The seed lists a trainer group's blocks once per replica it feeds; a group
// regroups once.
RankGroups WithoutDuplicates(const RankGroups& groups) {
  RankGroups unique;
  for (const RankList& group : groups) {
    if (std::find(unique.begin(), unique.end(), group) == unique.end()) unique.push_back(group);
  }
  return unique;
}

// The mapping synced one stage at a time (the seed's tp_num_mapping == 1 path),
// if any: routed experts when they have their own mapping, else the weights
// unless they go in two stages.
const SendRecvMapping* SingleStageMapping(const SyncStrategy& strategy, const Mappings& mappings) {
  if (strategy.routed_experts != RoutedExpertMapping::kNone) return &mappings.routed_experts;
  if (strategy.weights != WeightMapping::kTwoStage) return &mappings.stage1;
  return nullptr;
}

std::vector<std::string> CollectiveGroupNames(const SyncTopology& topology,
                                              const SyncStrategy& strategy,
                                              const Mappings& mappings) {
  std::vector<std::string> names;
  const auto append = [&names](std::vector<std::string> more) {
    names.insert(names.end(), more.begin(), more.end());
  };
  if (strategy.regroup_in_trainer && strategy.regroup_comm_type == RegroupCommType::kAllGather) {
    append(AllGatherGroupNames(topology.group_name, WithoutDuplicates(mappings.regroup_groups)));
  }
  if (strategy.comm_type == CommType::kBroadcast) {
    if (const SendRecvMapping* single = SingleStageMapping(strategy, mappings)) {
      const absl::string_view param_group =
          strategy.routed_experts == RoutedExpertMapping::kNone ? "default" : "routed";
      append(SingleStageGroupNames(topology.group_name, param_group, *single));
    }
    if (strategy.weights == WeightMapping::kTwoStage) {
      append(TwoStageGroupNames(topology.group_name, WeightParamGroup(strategy), mappings.stage1,
                                mappings.stage2, topology.dst.tp));
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

// The goal the seed misses in places: no inference rank left without weights.
absl::Status CheckEveryDstRankReceives(const SyncTopology& topology, const ReplicaGroups& groups,
                                       const Mappings& mappings) {
  std::set<int> receivers;
  for (const SendRecvMapping* mapping : {&mappings.stage1, &mappings.stage2}) {
    for (const auto& [sender, receiver] : mapping->Pairs()) receivers.insert(receiver);
  }
  std::vector<int> missing;
  for (const RankList& replica : groups.dst) {
    for (int rank : replica) {
      if (receivers.count(rank) == 0) missing.push_back(rank);
    }
  }
  if (missing.empty()) return absl::OkStatus();
  const ModelParallelism& src = topology.src;
  const ModelParallelism& dst = topology.dst;
  return absl::InvalidArgumentError(absl::StrCat(
      "dst ranks ", absl::StrJoin(missing, ", "), " would receive no weights: an inference stage ",
      "of dst.tp*dst.ep = ", dst.tp * dst.ep, " ranks is fed by trainer blocks of src.tp*src.ep = ",
      src.tp * src.ep, " ranks; accepted: dst.ep <= src.ep (with dst.tp a multiple of src.tp)"));
}

}  // namespace

absl::StatusOr<SyncPlan> BuildSyncPlan(const SyncTopology& topology) {
  RETURN_IF_ERROR(ValidateParallelism(topology));
  ASSIGN_OR_RETURN(const SyncStrategy strategy, ChooseSyncStrategy(topology));
  RETURN_IF_ERROR(ValidateEndpoints(topology));
  const ReplicaGroups groups = BuildReplicaGroups(topology);
  const RankPlacement placement(topology.endpoints);
  ASSIGN_OR_RETURN(const Mappings mappings, MapRanks(topology, strategy, groups, placement));
  RETURN_IF_ERROR(CheckEveryDstRankReceives(topology, groups, mappings));

  SyncPlan plan;
  plan.comm_type = strategy.comm_type;
  plan.regroup_comm_type = strategy.regroup_comm_type;
  plan.tp_num_mapping = strategy.tp_num_mapping;
  plan.src_dp_ranks = groups.src;
  plan.dst_dp_ranks = groups.dst;
  plan.stage1 = mappings.stage1.Pairs();
  plan.stage2 = mappings.stage2.Pairs();
  plan.routed_experts = mappings.routed_experts.Pairs();
  plan.regroup_groups = WithoutDuplicates(mappings.regroup_groups);
  plan.collective_groups = CollectiveGroupNames(topology, strategy, mappings);
  if (const SendRecvMapping* single = SingleStageMapping(strategy, mappings)) {
    plan.send_order = RoundRobinSendOrder(*single, placement, topology.src.dp);
  }
  return plan;
}

}  // namespace paramsync::planner
