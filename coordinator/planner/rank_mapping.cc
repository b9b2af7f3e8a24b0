#include "coordinator/planner/rank_mapping.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace paramsync::planner {

RankMapping MapEqualTensorParallel(const SyncTopology& topology, const ReplicaGroups& groups,
                                   bool reverse_src_groups) {
  const ModelParallelism& src = topology.src;
  const ModelParallelism& dst = topology.dst;
  const int stages_per_dst_stage = src.pp / dst.pp;
  RankMapping mapping;
  std::vector<char> group_seen(groups.src.size(), 0);
  for (int replica = 0; replica < static_cast<int>(groups.dst.size()); ++replica) {
    const RankList& src_group = SrcGroupForReplica(groups.src, replica, reverse_src_groups);
    const std::vector<absl::Span<const int>> src_blocks =
        ChunkRankViews(src_group, src.tp * src.ep);
    const std::vector<absl::Span<const int>> dst_blocks =
        ChunkRankViews(groups.dst[replica], dst.tp * dst.ep);
    // The seed lists the blocks again for every replica the group feeds; the
    // groups are disjoint, so listing them at first use keeps the same list
    // without duplicates.
    if (!std::exchange(group_seen[&src_group - groups.src.data()], 1)) {
      for (absl::Span<const int> block : src_blocks) {
        mapping.regroup_groups.emplace_back(block.begin(), block.end());
      }
    }
    for (size_t i = 0; i < src_blocks.size(); ++i) {
      const absl::Span<const int> to = dst_blocks[i / stages_per_dst_stage];
      const size_t n = std::min(src_blocks[i].size(), to.size());
      for (size_t p = 0; p < n; ++p) mapping.pairs.Add(src_blocks[i][p], to[p]);
    }
  }
  return mapping;
}

}  // namespace paramsync::planner
