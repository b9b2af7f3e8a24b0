// File: coordinator/planner/stage1_load_balancer.h
// -----------------------------------------------------------------------------
// Chooses, for the two-stage sync, which inference rank of a k-block (the
// dst.tp / src.tp ranks that share one trainer shard) receives the shard in
// stage 1 (seed: get_load_balance_dst_rank). It spreads the senders that feed
// one block over its ranks by hit count, and never picks a rank on the sender's
// GPU, where NCCL cannot send-recv.
//
// Each block keeps a min-queue of (hit_time, seq_num, offset), Python
// PriorityQueue order: fewest hits first, then the lowest sequence number. A
// candidate on the sender's GPU goes back with a fresh, larger sequence number,
// so it sorts after its equals next time.
#ifndef PARAMSYNC_COORDINATOR_PLANNER_STAGE1_LOAD_BALANCER_H_
#define PARAMSYNC_COORDINATOR_PLANNER_STAGE1_LOAD_BALANCER_H_

#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "coordinator/planner/rank_placement.h"

namespace paramsync::planner {

class Stage1LoadBalancer {
 public:
  // `placement` must outlive the balancer.
  Stage1LoadBalancer(int tp_num_mapping, const RankPlacement& placement);

  // The pre-allocation pass: if some candidate of block `block_index` of
  // `dst_stage` shares `src_rank`'s GPU, allocates a receiver now and returns
  // it; otherwise allocates nothing and returns nullopt. `start` rotates the
  // block's initial candidate order (first use of a block only).
  absl::StatusOr<std::optional<int>> PreAllocate(absl::Span<const int> dst_stage, int block_index,
                                                 int start, int src_rank);

  // Allocates the least-hit candidate not on `src_rank`'s GPU.
  absl::StatusOr<int> Allocate(absl::Span<const int> dst_stage, int block_index, int start,
                               int src_rank);

 private:
  using Candidate = std::tuple<int, int, int>;  // (hit_time, seq_num, offset in stage)
  struct Block {
    std::vector<int> ranks;        // The block's inference ranks: its identity.
    std::vector<Candidate> queue;  // Min-heap (std::greater); seq_nums are unique.
    int next_seq_num = 0;
  };

  // Both passes; returns nullopt only for a pre-allocation without collision.
  absl::StatusOr<std::optional<int>> Choose(absl::Span<const int> dst_stage, int block_index,
                                            int start, int src_rank, bool pre_allocate);
  // The block of these inference ranks, created (with an empty queue) on first use.
  Block& FindOrAddBlock(absl::Span<const int> ranks, bool& created);

  const int tp_num_mapping_;
  const RankPlacement& placement_;
  std::vector<Block> blocks_;
  // Blocks by their first rank (index into blocks_, -1: none). Blocks of one
  // sync partition the inference ranks, so the first rank identifies a block;
  // other_blocks_ takes any block whose first rank is negative or taken.
  std::vector<int> block_by_first_rank_;
  std::map<std::vector<int>, int> other_blocks_;
  std::vector<Candidate> legal_;  // Scratch of Choose().
};

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_STAGE1_LOAD_BALANCER_H_
