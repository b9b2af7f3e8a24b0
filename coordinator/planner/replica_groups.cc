#include "coordinator/planner/replica_groups.h"

#include <algorithm>

namespace paramsync::planner {

int TrainerRankCount(const ModelParallelism& src) { return src.tp * src.pp * src.dp; }

int ReplicaRankCount(const ModelParallelism& dst) { return dst.tp * dst.pp * dst.ep; }

ReplicaGroups BuildReplicaGroups(const SyncTopology& topology) {
  const ModelParallelism& src = topology.src;
  ReplicaGroups groups;
  groups.src.resize(src.dp / src.ep);
  groups.src_except_routed.resize(src.dp);
  // Megatron's layout: rank = pp_rank*tp*dp + dp_rank*tp + tp_rank, and the ep
  // ranks of one expert group are consecutive data-parallel ranks. Visiting
  // ranks in order keeps every group in ascending rank order, as the seed's
  // per-actor collection does.
  for (int rank = 0; rank < TrainerRankCount(src); ++rank) {
    const int dp_rank = (rank / src.tp) % src.dp;
    groups.src[dp_rank / src.ep].push_back(rank);
    groups.src_except_routed[dp_rank].push_back(rank);
  }
  const int replica_size = ReplicaRankCount(topology.dst);
  int rank = TrainerRankCount(src);
  for (int replica = 0; replica < topology.dst.replicas; ++replica) {
    RankList& ranks = groups.dst.emplace_back();
    for (int i = 0; i < replica_size; ++i) ranks.push_back(rank++);
  }
  return groups;
}

RankGroups ChunkRanks(absl::Span<const int> ranks, int block_size) {
  RankGroups blocks;
  blocks.reserve((ranks.size() + block_size - 1) / block_size);
  for (size_t begin = 0; begin < ranks.size(); begin += block_size) {
    const size_t end = std::min(ranks.size(), begin + block_size);
    blocks.emplace_back(ranks.begin() + begin, ranks.begin() + end);
  }
  return blocks;
}

std::vector<absl::Span<const int>> ChunkRankViews(absl::Span<const int> ranks, int block_size) {
  std::vector<absl::Span<const int>> blocks;
  blocks.reserve((ranks.size() + block_size - 1) / block_size);
  for (size_t begin = 0; begin < ranks.size(); begin += block_size) {
    blocks.push_back(ranks.subspan(begin, block_size));  // subspan() clamps the last one.
  }
  return blocks;
}

std::vector<RankGroups> SplitByStageExpertTensor(absl::Span<const int> ranks, int tp, int ep) {
  std::vector<RankGroups> stages;
  for (const RankList& stage : ChunkRanks(ranks, tp * ep)) {
    stages.push_back(ChunkRanks(stage, tp));
  }
  return stages;
}

const RankList& SrcGroupForReplica(const RankGroups& src_groups, int dst_replica, bool reversed) {
  const int n = static_cast<int>(src_groups.size());
  const int index = dst_replica % n;
  return src_groups[reversed ? n - 1 - index : index];
}

}  // namespace paramsync::planner
