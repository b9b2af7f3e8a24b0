// File: coordinator/planner/replica_groups.h
// -----------------------------------------------------------------------------
// Rank groups of the trainer and of the inference replicas, as ChatLearn's
// parameter sync iterates them, and the splits of those groups into
// pipeline-stage / expert / tensor blocks that its mappings use.
//
// All functions assume sizes that passed ValidateParallelism().
#ifndef PARAMSYNC_COORDINATOR_PLANNER_REPLICA_GROUPS_H_
#define PARAMSYNC_COORDINATOR_PLANNER_REPLICA_GROUPS_H_

#include <vector>

#include "absl/types/span.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

using RankList = std::vector<int>;
using RankGroups = std::vector<RankList>;

// Ranks of the trainer: tp*pp*dp.
int TrainerRankCount(const ModelParallelism& src);

// Ranks of one inference replica: tp*pp*ep (a Megatron replica's data-parallel
// size equals its ep; vLLM has ep 1).
int ReplicaRankCount(const ModelParallelism& dst);

struct ReplicaGroups {
  // The trainer's data-parallel groups, in ascending rank order, one per
  // data-parallel index (dp_rank, or dp_rank / ep when src.ep > 1, where a group
  // spans the ep ranks that hold different experts): each is one full copy of
  // the weights that the mapping cycles over the inference replicas.
  // (seed: get_src_and_dst_dp_ranks())
  RankGroups src;
  // The same with expert parallelism treated as data parallelism, for weights
  // that are not routed experts: one group per Megatron dp_rank, its
  // pipeline stages' TP blocks concatenated.
  // (seed: get_src_and_dst_dp_ranks(is_except_routed_experts=True))
  RankGroups src_except_routed;
  // One group per inference replica, its ranks in order.
  RankGroups dst;
};

ReplicaGroups BuildReplicaGroups(const SyncTopology& topology);

// Consecutive blocks of `block_size` ranks (the last one shorter if the size
// does not divide). block_size > 0.
RankGroups ChunkRanks(absl::Span<const int> ranks, int block_size);

// ChunkRanks() as views into `ranks`, which must outlive them.
std::vector<absl::Span<const int>> ChunkRankViews(absl::Span<const int> ranks, int block_size);

// Splits a replica's ranks into [pipeline stage][expert rank][tensor rank],
// each stage holding ep blocks of tp ranks. tp, ep > 0.
std::vector<RankGroups> SplitByStageExpertTensor(absl::Span<const int> ranks, int tp, int ep);

// Which trainer group feeds inference replica `dst_replica`: the groups are
// cycled over the replicas, in reverse order when `reversed`.
const RankList& SrcGroupForReplica(const RankGroups& src_groups, int dst_replica, bool reversed);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_REPLICA_GROUPS_H_
