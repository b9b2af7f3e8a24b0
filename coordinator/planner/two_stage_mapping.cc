#include "coordinator/planner/two_stage_mapping.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "coordinator/planner/stage1_load_balancer.h"

namespace paramsync::planner {
namespace {

// Rotation of a k-block's candidate order for the trainer stage `relative_stage`
// positions after the group's first mapped stage (seed: `start`).
int CandidateRotation(int relative_stage, int k) {
  const int mod = relative_stage % k;
  return relative_stage < k ? mod : (k - mod - 1) % k;
}

// Stage 2: inside each k-block, every rank that received in stage 1 (for any
// replica so far) sends to each other rank of the block.
void AddStage2(const std::vector<absl::Span<const int>>& dst_stages, int k,
               const std::vector<bool>& stage1_receiver, SendRecvMapping& stage2) {
  for (absl::Span<const int> stage : dst_stages) {
    for (size_t begin = 0; begin < stage.size(); begin += k) {
      const absl::Span<const int> block = stage.subspan(begin, k);
      for (size_t s = 0; s < block.size(); ++s) {
        if (!stage1_receiver[block[s]]) continue;
        for (size_t d = 0; d < block.size(); ++d) {
          if (d != s) stage2.Add(block[s], block[d]);
        }
      }
    }
  }
}

}  // namespace

absl::StatusOr<TwoStageMapping> MapTwoStage(const SyncTopology& topology,
                                            const ReplicaGroups& groups,
                                            const RankPlacement& placement, int tp_num_mapping) {
  const ModelParallelism& src = topology.src;
  const ModelParallelism& dst = topology.dst;
  const int k = tp_num_mapping;
  const int stages_per_dst_stage = src.pp / dst.pp;
  Stage1LoadBalancer balancer(k, placement);
  TwoStageMapping mapping;
  // Whether a rank received in stage 1, by rank (receivers are inference ranks).
  int max_dst_rank = -1;
  for (const RankList& replica : groups.dst) {
    for (int rank : replica) max_dst_rank = std::max(max_dst_rank, rank);
  }
  std::vector<bool> stage1_receiver(max_dst_rank + 1, false);
  // Trainer ranks that wait for the second pass, by (stage, tp rank): their
  // (start, dst stage).
  std::vector<std::optional<std::pair<int, int>>> deferred;
  // The seed's src_replica_offset: the trainer stage a group resumes from when
  // it has more stages than one inference replica takes. With the seed's groups
  // (src.pp stages each) it stays 0; kept so the mapping reads like the seed.
  int first_stage = 0;
  for (int replica = 0; replica < static_cast<int>(groups.dst.size()); ++replica) {
    const std::vector<absl::Span<const int>> src_stages = ChunkRankViews(
        SrcGroupForReplica(groups.src_except_routed, replica, /*reversed=*/false), src.tp);
    const std::vector<absl::Span<const int>> dst_stages =
        ChunkRankViews(groups.dst[replica], dst.tp);

    // Pre-allocation: trainer ranks that collide with a candidate pick first;
    // the others wait, with their (start, dst stage).
    deferred.assign(src_stages.size() * src.tp, std::nullopt);
    for (int i = first_stage; i < static_cast<int>(src_stages.size()); ++i) {
      const int dst_stage = (i - first_stage) / stages_per_dst_stage;
      if (dst_stage == dst.pp) {
        first_stage = i;
        break;
      }
      const int start = CandidateRotation(i - first_stage, k);
      for (int t = 0; t < static_cast<int>(src_stages[i].size()); ++t) {
        const int src_rank = src_stages[i][t];
        ASSIGN_OR_RETURN(std::optional<int> receiver,
                         balancer.PreAllocate(dst_stages[dst_stage], t, start, src_rank));
        if (receiver.has_value()) {
          mapping.stage1.Add(src_rank, *receiver);
          stage1_receiver[*receiver] = true;
        } else {
          deferred[i * src.tp + t] = {start, dst_stage};
        }
      }
    }
    // Then everyone else, in trainer order.
    for (int i = 0; i < static_cast<int>(src_stages.size()); ++i) {
      for (int t = 0; t < static_cast<int>(src_stages[i].size()); ++t) {
        const std::optional<std::pair<int, int>>& wait = deferred[i * src.tp + t];
        if (!wait.has_value()) continue;
        const auto [start, dst_stage] = *wait;
        const int src_rank = src_stages[i][t];
        ASSIGN_OR_RETURN(const int receiver,
                         balancer.Allocate(dst_stages[dst_stage], t, start, src_rank));
        mapping.stage1.Add(src_rank, receiver);
        stage1_receiver[receiver] = true;
      }
    }
    AddStage2(dst_stages, k, stage1_receiver, mapping.stage2);
  }
  return mapping;
}

}  // namespace paramsync::planner
