#include "coordinator/planner/hep_mapping.h"

#include <algorithm>
#include <map>

namespace paramsync::planner {

RankMapping MapExpertParallel(const SyncTopology& topology, const ReplicaGroups& groups,
                              bool reverse_src_groups) {
  const ModelParallelism& src = topology.src;
  const ModelParallelism& dst = topology.dst;
  const int stages_per_dst_stage = src.pp / dst.pp;
  RankMapping mapping;
  // Next TP block per trainer group (keyed by the group's first rank), shared by
  // all replicas that group feeds.
  std::map<int, int> next_block;
  for (int replica = 0; replica < static_cast<int>(groups.dst.size()); ++replica) {
    const RankList& src_group = SrcGroupForReplica(groups.src, replica, reverse_src_groups);
    auto [offset, first_use] = next_block.emplace(src_group.front(), 0);
    const std::vector<RankGroups> src_stages = SplitByStageExpertTensor(src_group, src.tp, src.ep);
    const std::vector<RankGroups> dst_stages =
        SplitByStageExpertTensor(groups.dst[replica], dst.tp, dst.ep);
    if (first_use) {
      for (const RankGroups& stage : src_stages) {
        RankList& regroup = mapping.regroup_groups.emplace_back();
        for (const RankList& block : stage)
          regroup.insert(regroup.end(), block.begin(), block.end());
      }
    }
    for (size_t i = 0; i < src_stages.size(); ++i) {
      const RankGroups& blocks = src_stages[i];
      const RankList& to = dst_stages[i / stages_per_dst_stage].front();
      const int blocks_per_dst_group = static_cast<int>(to.size() / blocks.front().size());
      RankList from;
      for (int k = 0; k < blocks_per_dst_group; ++k) {
        const RankList& block = blocks[(offset->second + k) % blocks.size()];
        from.insert(from.end(), block.begin(), block.end());
      }
      const size_t n = std::min(from.size(), to.size());
      for (size_t p = 0; p < n; ++p) mapping.pairs.Add(from[p], to[p]);
      offset->second = (offset->second + blocks_per_dst_group) % static_cast<int>(blocks.size());
    }
  }
  return mapping;
}

}  // namespace paramsync::planner
