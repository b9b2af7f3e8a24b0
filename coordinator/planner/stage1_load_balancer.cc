#include "coordinator/planner/stage1_load_balancer.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace paramsync::planner {

Stage1LoadBalancer::Stage1LoadBalancer(int tp_num_mapping, const RankPlacement& placement)
    : tp_num_mapping_(tp_num_mapping), placement_(placement) {}

absl::StatusOr<std::optional<int>> Stage1LoadBalancer::PreAllocate(absl::Span<const int> dst_stage,
                                                                   int block_index, int start,
                                                                   int src_rank) {
  return Choose(dst_stage, block_index, start, src_rank, /*pre_allocate=*/true);
}

absl::StatusOr<int> Stage1LoadBalancer::Allocate(absl::Span<const int> dst_stage, int block_index,
                                                 int start, int src_rank) {
  absl::StatusOr<std::optional<int>> chosen =
      Choose(dst_stage, block_index, start, src_rank, /*pre_allocate=*/false);
  if (!chosen.ok()) return chosen.status();
  return **chosen;
}

absl::StatusOr<std::optional<int>> Stage1LoadBalancer::Choose(absl::Span<const int> dst_stage,
                                                              int block_index, int start,
                                                              int src_rank, bool pre_allocate) {
  const int k = tp_num_mapping_;
  const int first = block_index * k;
  std::vector<int> block_ranks(dst_stage.begin() + first, dst_stage.begin() + first + k);
  auto [it, created] = blocks_.try_emplace(block_ranks);
  Block& block = it->second;
  if (created) {
    for (int seq = 0; seq < k; ++seq) block.queue.emplace(0, seq, first + (start + seq) % k);
    block.next_seq_num = k;
  }

  // Pops each candidate once: those on the sender's GPU go straight back with a
  // new sequence number (a collided candidate with fewer hits than the others
  // can come up again; the seed does the same), the others wait in `legal`.
  CandidateQueue legal;
  bool collided = false;
  for (int n = 0; n < k; ++n) {
    const auto [hit_time, seq_num, offset] = block.queue.top();
    block.queue.pop();
    if (placement_.SameGpu(src_rank, dst_stage[offset])) {
      collided = true;
      block.queue.emplace(hit_time, block.next_seq_num++, offset);
    } else {
      legal.emplace(hit_time, seq_num, offset);
    }
  }
  const auto restore_legal = [&] {
    for (; !legal.empty(); legal.pop()) block.queue.push(legal.top());
  };
  if (pre_allocate && !collided) {
    restore_legal();
    return std::optional<int>();
  }
  if (legal.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoints: trainer rank ", src_rank,
        " has no stage-1 receiver off its GPU among inference ranks ",
        absl::StrJoin(block_ranks, ", "),
        "; accepted: placements where each trainer rank has a rank of its inference TP block "
        "on another GPU (NCCL cannot send-recv within one GPU)"));
  }
  const auto [hit_time, seq_num, offset] = legal.top();
  legal.pop();
  block.queue.emplace(hit_time + 1, seq_num, offset);
  restore_legal();
  return std::optional<int>(dst_stage[offset]);
}

}  // namespace paramsync::planner
