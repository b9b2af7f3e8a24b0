#include "coordinator/planner/stage1_load_balancer.h"

#include <algorithm>
#include <functional>
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

Stage1LoadBalancer::Block& Stage1LoadBalancer::FindOrAddBlock(absl::Span<const int> ranks,
                                                              bool& created) {
  created = false;
  const int first = ranks.empty() ? -1 : ranks.front();
  if (first >= 0) {
    if (static_cast<size_t>(first) >= block_by_first_rank_.size()) {
      block_by_first_rank_.resize(std::max<size_t>(first + 1, 2 * block_by_first_rank_.size()), -1);
    }
    int& index = block_by_first_rank_[first];
    if (index < 0) {
      index = static_cast<int>(blocks_.size());
      blocks_.emplace_back().ranks.assign(ranks.begin(), ranks.end());
      created = true;
      return blocks_.back();
    }
    Block& block = blocks_[index];
    // (A plain loop: std::equal becomes a memcmp call, dearer for k ranks.)
    bool same = block.ranks.size() == ranks.size();
    for (size_t i = 0; same && i < ranks.size(); ++i) same = block.ranks[i] == ranks[i];
    if (same) return block;
  }
  auto [it, inserted] = other_blocks_.try_emplace(std::vector<int>(ranks.begin(), ranks.end()),
                                                  static_cast<int>(blocks_.size()));
  if (inserted) {
    blocks_.emplace_back().ranks.assign(ranks.begin(), ranks.end());
    created = true;
  }
  return blocks_[it->second];
}

absl::StatusOr<std::optional<int>> Stage1LoadBalancer::Choose(absl::Span<const int> dst_stage,
                                                              int block_index, int start,
                                                              int src_rank, bool pre_allocate) {
  const int k = tp_num_mapping_;
  const int first = block_index * k;
  const absl::Span<const int> block_ranks = dst_stage.subspan(first, k);
  bool created = false;
  Block& block = FindOrAddBlock(block_ranks, created);
  std::vector<Candidate>& queue = block.queue;
  constexpr std::greater<Candidate> kAfter;  // Min-heap order.
  const auto push = [&](const Candidate& c) {
    queue.push_back(c);
    std::push_heap(queue.begin(), queue.end(), kAfter);
  };
  const auto pop = [&] {
    std::pop_heap(queue.begin(), queue.end(), kAfter);
    const Candidate top = queue.back();
    queue.pop_back();
    return top;
  };
  if (created) {
    queue.reserve(k);
    for (int seq = 0; seq < k; ++seq) push({0, seq, first + (start + seq) % k});
    block.next_seq_num = k;
  }

  // Pops each candidate once: those on the sender's GPU go straight back with a
  // new sequence number (a collided candidate with fewer hits than the others
  // can come up again; the seed does the same), the others wait in `legal_`.
  // Every (hit_time, seq_num) in a queue is distinct, so the pop order is the
  // same for any min-queue: the seed's PriorityQueue order.
  legal_.clear();
  bool collided = false;
  for (int n = 0; n < k; ++n) {
    const auto [hit_time, seq_num, offset] = pop();
    if (placement_.SameGpu(src_rank, dst_stage[offset])) {
      collided = true;
      push({hit_time, block.next_seq_num++, offset});
    } else {
      legal_.emplace_back(hit_time, seq_num, offset);
    }
  }
  const auto restore_legal = [&](size_t skip) {
    for (size_t i = 0; i < legal_.size(); ++i) {
      if (i != skip) push(legal_[i]);
    }
  };
  if (pre_allocate && !collided) {
    restore_legal(legal_.size());
    return std::optional<int>();
  }
  if (legal_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoints: trainer rank ", src_rank,
        " has no stage-1 receiver off its GPU among inference ranks ",
        absl::StrJoin(block_ranks, ", "),
        "; accepted: placements where each trainer rank has a rank of its inference TP block "
        "on another GPU (NCCL cannot send-recv within one GPU)"));
  }
  const size_t best = std::min_element(legal_.begin(), legal_.end()) - legal_.begin();
  const auto [hit_time, seq_num, offset] = legal_[best];
  push({hit_time + 1, seq_num, offset});
  restore_legal(best);
  return std::optional<int>(dst_stage[offset]);
}

}  // namespace paramsync::planner
