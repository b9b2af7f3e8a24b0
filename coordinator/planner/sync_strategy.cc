#include "coordinator/planner/sync_strategy.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "coordinator/planner/replica_groups.h"

namespace paramsync::planner {
namespace {

bool IsOdd(int n) { return n % 2 == 1; }

absl::Status CheckTensorParallelRatio(const ModelParallelism& src, const ModelParallelism& dst) {
  // The seed's equal-TP path computes dst.tp // src.tp == 1 for e.g. 3 vs 2 and
  // silently leaves inference ranks without weights; its two-stage path asserts
  // divisibility. Both become this one rule.
  if (dst.tp % src.tp == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "dst.tp is ", dst.tp, ", not a multiple of src.tp ", src.tp, "; accepted: dst.tp = k * ",
      src.tp, " for k >= 1 (", src.tp, ", ", 2 * src.tp, ", ", 3 * src.tp,
      ", ...), so that every inference rank holds a whole slice of one trainer shard"));
}

absl::Status CheckPipelineRatio(const ModelParallelism& src, const ModelParallelism& dst) {
  if (src.pp % dst.pp == 0) return absl::OkStatus();
  std::vector<int> divisors;
  for (int d = 1; d <= src.pp; ++d) {
    if (src.pp % d == 0) divisors.push_back(d);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dst.pp is ", dst.pp, ", which does not divide src.pp ", src.pp,
                   "; accepted: ", absl::StrJoin(divisors, ", "),
                   " (consecutive trainer pipeline stages map onto one inference stage)"));
}

// The rules of ParameterSyncGroupwithHEP.setup_rank_mapping.
absl::Status ChooseExpertMappings(const SyncTopology& topology, SyncStrategy& strategy) {
  const ModelParallelism& src = topology.src;
  const ModelParallelism& dst = topology.dst;
  if (dst.ep > src.ep) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dst.ep is ", dst.ep, ", larger than src.ep ", src.ep,
        "; accepted with hep: dst.ep <= src.ep (inference may only merge expert shards)"));
  }
  const bool equal_ep = dst.ep == src.ep;
  const bool equal_hep = dst.tp * dst.ep == src.tp * src.ep;
  if (dst.engine == kEngineMegatron) {
    if (strategy.tp_num_mapping == 1 && equal_ep) {
      strategy.weights = WeightMapping::kEqualTp;
    } else if (equal_hep) {
      strategy.routed_experts = RoutedExpertMapping::kEqualTp;
      strategy.weights = WeightMapping::kTwoStage;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "dst.tp*dst.ep is ", dst.tp, "*", dst.ep, " = ", dst.tp * dst.ep,
          " but src.tp*src.ep is ", src.tp, "*", src.ep, " = ", src.tp * src.ep,
          "; accepted with hep and dst.engine \"megatron\": equal tp and ep, or equal tp*ep "
          "(routed experts map one to one across TP x EP)"));
    }
    return absl::OkStatus();
  }
  strategy.regroup_in_trainer = true;
  if (strategy.tp_num_mapping == 1) {
    strategy.weights = equal_ep ? WeightMapping::kEqualTp : WeightMapping::kExpertEqualTp;
  } else {
    strategy.weights = WeightMapping::kTwoStage;
    strategy.routed_experts =
        equal_hep ? RoutedExpertMapping::kExpert : RoutedExpertMapping::kRegroupOnly;
  }
  const bool expert_mapping = strategy.weights == WeightMapping::kExpertEqualTp ||
                              strategy.routed_experts != RoutedExpertMapping::kNone;
  // build_rank_mapping_for_ep cycles each TP x EP block of a trainer group over
  // the replica's TP group, which needs whole replicas per trainer group.
  const int group_size = src.pp * src.tp * src.ep;
  const int replica_size = ReplicaRankCount(dst);
  if (expert_mapping && group_size % replica_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "src.pp*src.tp*src.ep is ", src.pp, "*", src.tp, "*", src.ep, " = ", group_size,
        " ranks per trainer expert-data-parallel group, not a multiple of the ", replica_size,
        " ranks of a vllm replica (dst.pp*dst.tp); accepted with hep: dst.pp*dst.tp dividing ",
        group_size));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SyncStrategy> ChooseSyncStrategy(const SyncTopology& topology) {
  const ModelParallelism& src = topology.src;
  const ModelParallelism& dst = topology.dst;
  RETURN_IF_ERROR(CheckTensorParallelRatio(src, dst));
  RETURN_IF_ERROR(CheckPipelineRatio(src, dst));

  SyncStrategy strategy;
  strategy.tp_num_mapping = dst.tp / src.tp;
  strategy.regroup_comm_type = topology.regroup_comm_type;
  // All-to-all needs the same TP x EP on both sides; the seed falls back.
  if (strategy.regroup_comm_type == RegroupCommType::kAllToAll &&
      dst.tp * dst.ep != src.tp * src.ep) {
    strategy.regroup_comm_type = RegroupCommType::kAllGather;
  }
  if (topology.hep) {
    RETURN_IF_ERROR(ChooseExpertMappings(topology, strategy));
  } else {
    strategy.weights =
        strategy.tp_num_mapping == 1 ? WeightMapping::kEqualTp : WeightMapping::kTwoStage;
  }
  strategy.reverse_src_groups = topology.colocated && IsOdd(src.tp);

  const bool two_stage = strategy.weights == WeightMapping::kTwoStage;
  if (two_stage && dst.ep > 1) {
    // The seed's two-stage split of an EP inference replica yields positions,
    // not ranks, and sends to the wrong processes.
    return absl::InvalidArgumentError(absl::StrCat(
        "dst.ep is ", dst.ep, " while dst.tp ", dst.tp, " > src.tp ", src.tp,
        "; accepted: dst.ep 1 (the two-stage mapping splits inference replicas by TP only)"));
  }
  strategy.comm_type = topology.comm_type;
  if (two_stage && strategy.comm_type == CommType::kP2P) {
    return absl::InvalidArgumentError(
        absl::StrCat("comm_type is p2p while dst.tp ", dst.tp, " > src.tp ", src.tp,
                     "; accepted: broadcast (stage 2 broadcasts inside each inference TP group)"));
  }
  // Colocated replicas with odd TP put some trainer and inference ranks of a
  // broadcast group on one GPU, so the seed falls back to p2p (same-GPU pairs
  // go through memory). Its two-stage sync cannot run p2p, and its load
  // balancer already keeps stage-1 pairs off shared GPUs, so broadcast stays.
  if (topology.colocated && strategy.comm_type == CommType::kBroadcast && IsOdd(src.tp) &&
      IsOdd(dst.tp) && !two_stage) {
    strategy.comm_type = CommType::kP2P;
  }
  return strategy;
}

absl::string_view WeightParamGroup(const SyncStrategy& strategy) {
  return strategy.routed_experts == RoutedExpertMapping::kNone ? "default" : "except_routed";
}

}  // namespace paramsync::planner
