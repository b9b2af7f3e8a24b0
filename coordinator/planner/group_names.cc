#include "coordinator/planner/group_names.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace paramsync::planner {
namespace {

using Pair = std::pair<int, int>;

// The seed's create_broadcast_group: `prefix` already starts with the sync
// group's name.
std::string BroadcastGroupName(absl::string_view prefix, absl::string_view param_group, int sender,
                               const std::vector<int>& receivers) {
  return absl::StrCat(prefix, "_", param_group, "_from_", sender, "_to_",
                      absl::StrJoin(receivers, "_"));
}

// First-fit batches of pairs that share no rank (seed: actor_groups_to_sync):
// each pair joins the first batch that holds neither of its ranks. Linear: per
// rank, a bit mask of the first 64 batches holding it (stage-2 ranks have at
// most 2 * (tp_num_mapping - 1) pairs each, so later batches are rare).
std::vector<std::vector<Pair>> ConflictFreeBatches(const std::vector<Pair>& pairs) {
  std::vector<std::vector<Pair>> batches;
  if (pairs.empty()) return batches;
  // Ranks as dense indices: offsets from the lowest where the ranks span a
  // range comparable to their number (sync ranks), else positions among the
  // distinct ranks.
  int64_t lo = pairs.front().first;
  int64_t hi = lo;
  for (const Pair& pair : pairs) {
    lo = std::min<int64_t>({lo, pair.first, pair.second});
    hi = std::max<int64_t>({hi, pair.first, pair.second});
  }
  std::vector<int> distinct;
  if (hi - lo >= 4 * static_cast<int64_t>(pairs.size()) + 1024) {
    for (const Pair& pair : pairs) {
      distinct.push_back(pair.first);
      distinct.push_back(pair.second);
    }
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  }
  const auto index_of = [&](int rank) -> size_t {
    if (distinct.empty()) return static_cast<size_t>(rank - lo);
    return std::lower_bound(distinct.begin(), distinct.end(), rank) - distinct.begin();
  };
  const size_t num_indices = distinct.empty() ? static_cast<size_t>(hi - lo + 1) : distinct.size();
  std::vector<uint64_t> low_batches(num_indices, 0);  // Bit b: batch b holds the rank.
  std::set<std::pair<size_t, size_t>> high_batches;   // (rank index, batch >= 64).
  for (const Pair& pair : pairs) {
    const size_t a = index_of(pair.first);
    const size_t b = index_of(pair.second);
    const uint64_t taken = low_batches[a] | low_batches[b];
    size_t batch = 64;
    if (~taken != 0) {
      batch = static_cast<size_t>(__builtin_ctzll(~taken));
    } else {
      while (high_batches.count({a, batch}) != 0 || high_batches.count({b, batch}) != 0) ++batch;
    }
    if (batch < 64) {
      low_batches[a] |= uint64_t{1} << batch;
      low_batches[b] |= uint64_t{1} << batch;
    } else {
      high_batches.insert({a, batch});
      high_batches.insert({b, batch});
    }
    if (batch == batches.size()) batches.emplace_back();
    batches[batch].push_back(pair);
  }
  return batches;
}

}  // namespace

std::vector<BroadcastGroup> SingleStageGroups(absl::string_view group_name,
                                              absl::string_view param_group,
                                              const SendRecvMapping& mapping) {
  std::vector<BroadcastGroup> groups;
  groups.reserve(mapping.senders().size());
  for (int sender : mapping.senders()) {
    const std::vector<int>& receivers = mapping.ReceiversOf(sender);
    groups.push_back(
        {BroadcastGroupName(group_name, param_group, sender, receivers), sender, receivers});
  }
  return groups;
}

std::vector<BroadcastGroup> StageTwoGroups(absl::string_view group_name,
                                           absl::string_view param_group,
                                           const SendRecvMapping& stage2, int dst_tp) {
  std::vector<BroadcastGroup> groups;
  const std::vector<std::vector<Pair>> batches = ConflictFreeBatches(stage2.Pairs());
  for (size_t b = 0; b < batches.size(); ++b) {
    const std::vector<Pair>& batch = batches[b];
    for (size_t begin = 0, chunk = 0; begin < batch.size(); begin += dst_tp, ++chunk) {
      const size_t end = std::min(batch.size(), begin + dst_tp);
      for (size_t i = begin; i < end; ++i) {
        const std::string prefix =
            absl::StrCat(group_name, "_stage2_comm_", b, "_", chunk, "_", i - begin);
        groups.push_back(
            {BroadcastGroupName(prefix, param_group, batch[i].first, {batch[i].second}),
             batch[i].first,
             {batch[i].second}});
      }
    }
  }
  return groups;
}

std::vector<std::string> SingleStageGroupNames(absl::string_view group_name,
                                               absl::string_view param_group,
                                               const SendRecvMapping& mapping) {
  std::vector<std::string> names;
  for (BroadcastGroup& group : SingleStageGroups(group_name, param_group, mapping)) {
    names.push_back(std::move(group.name));
  }
  return names;
}

std::vector<std::string> TwoStageGroupNames(absl::string_view group_name,
                                            absl::string_view param_group,
                                            const SendRecvMapping& stage1,
                                            const SendRecvMapping& stage2, int dst_tp) {
  const std::string stage1_prefix = absl::StrCat(group_name, "_stage1_comm");
  std::vector<std::string> names = SingleStageGroupNames(stage1_prefix, param_group, stage1);
  for (BroadcastGroup& group : StageTwoGroups(group_name, param_group, stage2, dst_tp)) {
    names.push_back(std::move(group.name));
  }
  return names;
}

std::string RegroupGroupName(absl::string_view group_name, RegroupCommType comm_type,
                             const RankList& ranks) {
  return absl::StrCat(group_name,
                      comm_type == RegroupCommType::kAllGather ? "_allgather" : "_alltoall",
                      "_routed_among_", absl::StrJoin(ranks, "_"));
}

std::vector<std::string> AllGatherGroupNames(absl::string_view group_name,
                                             const RankGroups& regroup_groups) {
  std::vector<std::string> names;
  for (const RankList& ranks : regroup_groups) {
    names.push_back(RegroupGroupName(group_name, RegroupCommType::kAllGather, ranks));
  }
  return names;
}

}  // namespace paramsync::planner
