#include "coordinator/planner/group_names.h"

#include <algorithm>
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

bool SharesRank(const Pair& a, const Pair& b) {
  return a.first == b.first || a.first == b.second || a.second == b.first || a.second == b.second;
}

// First-fit batches of pairs that share no rank (seed: actor_groups_to_sync).
std::vector<std::vector<Pair>> ConflictFreeBatches(const std::vector<Pair>& pairs) {
  std::vector<std::vector<Pair>> batches;
  for (const Pair& pair : pairs) {
    auto fits = [&](const std::vector<Pair>& batch) {
      return std::none_of(batch.begin(), batch.end(),
                          [&](const Pair& other) { return SharesRank(pair, other); });
    };
    auto batch = std::find_if(batches.begin(), batches.end(), fits);
    if (batch == batches.end()) {
      batches.push_back({pair});
    } else {
      batch->push_back(pair);
    }
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
        groups.push_back({BroadcastGroupName(prefix, param_group, batch[i].first, {batch[i].second}),
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

std::vector<std::string> AllGatherGroupNames(absl::string_view group_name,
                                             const RankGroups& regroup_groups) {
  std::vector<std::string> names;
  for (const RankList& ranks : regroup_groups) {
    names.push_back(
        absl::StrCat(group_name, "_allgather_routed_among_", absl::StrJoin(ranks, "_")));
  }
  return names;
}

}  // namespace paramsync::planner
