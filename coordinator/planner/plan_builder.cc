#include "coordinator/planner/plan_builder.h"

#include <algorithm>
#include <set>
#include <string>
#include <unordered_map>
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
  const auto less = [](const RankList* a, const RankList* b) { return *a < *b; };
  std::set<const RankList*, decltype(less)> seen(less);
  RankGroups unique;
  for (const RankList& group : groups) {
    if (seen.insert(&group).second) unique.push_back(group);
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

void AppendTransfers(int stage, absl::string_view param_group, std::vector<BroadcastGroup> groups,
                     std::vector<PlannedTransfer>& transfers) {
  for (BroadcastGroup& group : groups) {
    transfers.push_back({stage, std::string(param_group), std::move(group.name), group.root,
                         std::move(group.receivers)});
  }
}

// The transfers of one mapping in a p2p sync: one per pair, all in the sync's
// global group.
void AppendPairTransfers(const SyncTopology& topology, int stage, absl::string_view param_group,
                         const SendRecvMapping& mapping, std::vector<PlannedTransfer>& transfers) {
  for (const auto& [sender, receiver] : mapping.Pairs()) {
    transfers.push_back({stage, std::string(param_group), topology.group_name, sender, {receiver}});
  }
}

// Every transfer of the sync, in the order the seed runs them: routed experts,
// then the weights (single stage or stage 1), then stage 2.
std::vector<PlannedTransfer> PlanTransfers(const SyncTopology& topology,
                                           const SyncStrategy& strategy, const Mappings& mappings) {
  const bool two_stage = strategy.weights == WeightMapping::kTwoStage;
  const absl::string_view weights = WeightParamGroup(strategy);
  std::vector<PlannedTransfer> transfers;
  if (strategy.comm_type == CommType::kP2P) {
    AppendPairTransfers(topology, 1, "routed", mappings.routed_experts, transfers);
    AppendPairTransfers(topology, 1, weights, mappings.stage1, transfers);
    AppendPairTransfers(topology, 2, weights, mappings.stage2, transfers);
    return transfers;
  }
  const std::string& group = topology.group_name;
  AppendTransfers(1, "routed", SingleStageGroups(group, "routed", mappings.routed_experts),
                  transfers);
  const std::string stage1_prefix = two_stage ? absl::StrCat(group, "_stage1_comm") : group;
  AppendTransfers(1, weights, SingleStageGroups(stage1_prefix, weights, mappings.stage1),
                  transfers);
  if (two_stage) {
    AppendTransfers(2, weights, StageTwoGroups(group, weights, mappings.stage2, topology.dst.tp),
                    transfers);
  }
  return transfers;
}

// Every collective group of the sync, sorted: the trainer's all-gather groups
// and the groups of the transfers (none for p2p, whose transfers run in the
// global group).
std::vector<std::string> CollectiveGroupNames(const SyncTopology& topology,
                                              const SyncStrategy& strategy,
                                              const Mappings& mappings,
                                              const std::vector<PlannedTransfer>& transfers) {
  std::vector<std::string> names;
  if (strategy.regroup_in_trainer && strategy.regroup_comm_type == RegroupCommType::kAllGather) {
    names = AllGatherGroupNames(topology.group_name, WithoutDuplicates(mappings.regroup_groups));
  }
  if (strategy.comm_type == CommType::kBroadcast) {
    for (const PlannedTransfer& transfer : transfers) names.push_back(transfer.group_name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

// The goal the seed misses in places: no inference rank left without weights.
absl::Status CheckEveryDstRankReceives(const SyncTopology& topology, const ReplicaGroups& groups,
                                       const Mappings& mappings) {
  // Inference ranks are numbered 0 .. n-1 after the trainer's: flags by rank.
  int max_dst_rank = -1;
  for (const RankList& replica : groups.dst) {
    for (int rank : replica) max_dst_rank = std::max(max_dst_rank, rank);
  }
  std::vector<bool> receives(max_dst_rank + 1, false);
  for (const SendRecvMapping* mapping : {&mappings.stage1, &mappings.stage2}) {
    for (int sender : mapping->senders()) {
      for (int receiver : mapping->ReceiversOf(sender)) {
        if (receiver >= 0 && receiver <= max_dst_rank) receives[receiver] = true;
      }
    }
  }
  std::vector<int> missing;
  for (const RankList& replica : groups.dst) {
    for (int rank : replica) {
      if (rank < 0 || !receives[rank]) missing.push_back(rank);
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

// NCCL cannot form a group with two members on one GPU (ChatLearn's groups
// would fail to initialize): refuses topologies whose mapping puts two
// receivers of one broadcast, or two members of one all-gather group, on one
// GPU. A root may share a GPU with a receiver (a device copy).
absl::Status CheckOneGpuPerGroupMember(const SyncTopology& topology, const SyncPlan& plan,
                                       const SyncStrategy& strategy) {
  std::vector<const EndpointPlacement*> by_rank(topology.endpoints.size());
  for (const EndpointPlacement& e : topology.endpoints) by_rank[e.rank] = &e;
  std::unordered_map<uint64_t, int> rank_on_gpu;
  // The first member of `members` that shares a GPU with an earlier one.
  const auto check = [&](const std::vector<int>& members, absl::string_view what) -> absl::Status {
    rank_on_gpu.clear();
    for (int rank : members) {
      const EndpointPlacement& e = *by_rank[rank];
      const uint64_t gpu = (static_cast<uint64_t>(static_cast<uint32_t>(e.node)) << 32) |
                           static_cast<uint32_t>(e.gpu);
      auto [it, inserted] = rank_on_gpu.emplace(gpu, rank);
      if (inserted) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoints of ranks ", it->second, " and ", rank, " are both on node ", e.node, " gpu ",
          e.gpu, ", and the plan makes them ", what,
          "; accepted: those ranks on distinct GPUs (NCCL cannot hold two members of one group "
          "on one GPU)"));
    }
    return absl::OkStatus();
  };
  for (const PlannedTransfer& transfer : plan.transfers) {
    if (transfer.receivers.size() < 2) continue;
    RETURN_IF_ERROR(check(transfer.receivers,
                          absl::StrCat("receivers of one broadcast from rank ", transfer.root,
                                       " (group ", transfer.group_name, ")")));
  }
  if (strategy.regroup_in_trainer && strategy.regroup_comm_type == RegroupCommType::kAllGather) {
    for (const RankList& group : plan.regroup_groups) {
      RETURN_IF_ERROR(check(group, "members of one all-gather group of routed experts"));
    }
  }
  return absl::OkStatus();
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
  plan.regroups_routed_experts = strategy.regroup_in_trainer;
  plan.transfers = PlanTransfers(topology, strategy, mappings);
  plan.collective_groups = CollectiveGroupNames(topology, strategy, mappings, plan.transfers);
  RETURN_IF_ERROR(CheckOneGpuPerGroupMember(topology, plan, strategy));
  if (const SendRecvMapping* single = SingleStageMapping(strategy, mappings)) {
    plan.send_order = RoundRobinSendOrder(*single, placement, topology.src.dp);
  }
  return plan;
}

}  // namespace paramsync::planner
