#include "coordinator/planner/rank_mapping.h"

#include <algorithm>

namespace paramsync::planner {

RankMapping MapEqualTensorParallel(const SyncTopology& topology, const ReplicaGroups& groups,
                                   bool reverse_src_groups) {
  const ModelParallelism& src = topology.src;
  const ModelParallelism& dst = topology.dst;
  const int stages_per_dst_stage = src.pp / dst.pp;
  RankMapping mapping;
  for (int replica = 0; replica < static_cast<int>(groups.dst.size()); ++replica) {
    const RankGroups src_blocks =
        ChunkRanks(SrcGroupForReplica(groups.src, replica, reverse_src_groups), src.tp * src.ep);
    const RankGroups dst_blocks = ChunkRanks(groups.dst[replica], dst.tp * dst.ep);
    mapping.regroup_groups.insert(mapping.regroup_groups.end(), src_blocks.begin(),
                                  src_blocks.end());
    for (size_t i = 0; i < src_blocks.size(); ++i) {
      const RankList& to = dst_blocks[i / stages_per_dst_stage];
      const size_t n = std::min(src_blocks[i].size(), to.size());
      for (size_t p = 0; p < n; ++p) mapping.pairs.Add(src_blocks[i][p], to[p]);
    }
  }
  return mapping;
}

}  // namespace paramsync::planner
