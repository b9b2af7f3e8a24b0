#include "coordinator/planner/hep_mapping.h"

#include <algorithm>
#include <vector>

namespace paramsync::planner {

RankMapping MapExpertParallel(const SyncTopology& topology, const ReplicaGroups& groups,
                              bool reverse_src_groups) {
  const ModelParallelism& src = topology.src;
  const ModelParallelism& dst = topology.dst;
  const int stages_per_dst_stage = src.pp / dst.pp;
  RankMapping mapping;
  // Next TP block per trainer group (by its index in groups.src; -1: the group
  // has fed no replica yet), shared by all replicas that group feeds.
  std::vector<int> next_block(groups.src.size(), -1);
  for (int replica = 0; replica < static_cast<int>(groups.dst.size()); ++replica) {
    const RankList& src_group = SrcGroupForReplica(groups.src, replica, reverse_src_groups);
    int& offset = next_block[&src_group - groups.src.data()];
    // Stages of TP x EP ranks; a stage splits into TP blocks of src.tp ranks
    // (SplitByStageExpertTensor), the first TP block of an inference stage is
    // its first dst.tp ranks.
    const std::vector<absl::Span<const int>> src_stages =
        ChunkRankViews(src_group, src.tp * src.ep);
    const std::vector<absl::Span<const int>> dst_stages =
        ChunkRankViews(groups.dst[replica], dst.tp * dst.ep);
    if (offset < 0) {
      offset = 0;
      for (absl::Span<const int> stage : src_stages) {
        mapping.regroup_groups.emplace_back(stage.begin(), stage.end());
      }
    }
    for (size_t i = 0; i < src_stages.size(); ++i) {
      const absl::Span<const int> stage = src_stages[i];
      const int num_blocks = static_cast<int>((stage.size() + src.tp - 1) / src.tp);
      const size_t first_block_size = std::min<size_t>(src.tp, stage.size());
      const absl::Span<const int> to = dst_stages[i / stages_per_dst_stage].subspan(0, dst.tp);
      const int blocks_per_dst_group = static_cast<int>(to.size() / first_block_size);
      // The blocks offset .. offset + blocks_per_dst_group - 1 (cyclically),
      // concatenated, send position by position to `to`.
      size_t p = 0;
      for (int k = 0; k < blocks_per_dst_group && p < to.size(); ++k) {
        const int block = (offset + k) % num_blocks;
        for (int rank : stage.subspan(static_cast<size_t>(block) * src.tp, src.tp)) {
          if (p == to.size()) break;
          mapping.pairs.Add(rank, to[p++]);
        }
      }
      offset = (offset + blocks_per_dst_group) % num_blocks;
    }
  }
  return mapping;
}

}  // namespace paramsync::planner
