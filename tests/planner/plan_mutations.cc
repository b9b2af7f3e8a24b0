#include "tests/planner/plan_mutations.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace paramsync::planner::testing {
namespace {

constexpr absl::string_view kAllGatherInfix = "_allgather_routed_among_";

size_t Index(std::mt19937_64& rng, size_t n) {
  return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
}

template <typename T>
const T& Pick(std::mt19937_64& rng, const std::vector<T>& items) {
  return items[Index(rng, items.size())];
}

bool IsP2P(const SyncPlan& plan) { return plan.comm_type == CommType::kP2P; }

int NumSrc(const SyncTopology& topology) {
  return topology.src.tp * topology.src.pp * topology.src.dp;
}

int NumRanks(const SyncTopology& topology) { return static_cast<int>(topology.endpoints.size()); }

EndpointPlacement& EndpointOf(SyncTopology& topology, int rank) {
  for (EndpointPlacement& e : topology.endpoints) {
    if (e.rank == rank) return e;
  }
  return topology.endpoints.front();  // Not reached for valid topologies.
}

int PipelineStageOf(const SyncTopology& topology, int rank) {
  for (const EndpointPlacement& e : topology.endpoints) {
    if (e.rank == rank) return e.pp_rank;
  }
  return -1;
}

std::string Suffix(const PlannedTransfer& t) {
  return absl::StrCat("_", t.param_group, "_from_", t.root, "_to_",
                      absl::StrJoin(t.receivers, "_"));
}

// The part of a broadcast group's name before its member suffix.
std::string Prefix(const PlannedTransfer& t) {
  return t.group_name.substr(0, t.group_name.size() - Suffix(t).size());
}

// Names a broadcast transfer after its (changed) members; p2p names stay.
void Rename(const SyncPlan& plan, const std::string& prefix, PlannedTransfer& t) {
  if (!IsP2P(plan)) t.group_name = prefix + Suffix(t);
}

std::vector<size_t> TransfersOfStage(const SyncPlan& plan, int stage) {
  std::vector<size_t> out;
  for (size_t i = 0; i < plan.transfers.size(); ++i) {
    if (plan.transfers[i].stage == stage) out.push_back(i);
  }
  return out;
}

bool SameMembers(const PlannedTransfer& a, const PlannedTransfer& b) {
  std::vector<int> x = a.receivers;
  std::vector<int> y = b.receivers;
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  return a.root == b.root && x == y;
}

std::optional<Broken> DropPair(std::mt19937_64& rng, const SyncTopology& topology, SyncPlan& plan) {
  const std::vector<size_t> stage1 = TransfersOfStage(plan, 1);
  if (stage1.empty()) return std::nullopt;
  const size_t i = Pick(rng, stage1);
  PlannedTransfer& t = plan.transfers[i];
  const std::string prefix = Prefix(t);
  const size_t k = Index(rng, t.receivers.size());
  const int dropped = t.receivers[k];
  const std::string description =
      absl::StrCat("drop pair (", t.root, ", ", dropped, ") of \"", t.param_group, "\"");
  t.receivers.erase(t.receivers.begin() + k);
  if (t.receivers.empty()) {
    plan.transfers.erase(plan.transfers.begin() + i);
  } else {
    Rename(plan, prefix, t);
  }
  DeriveFieldsFromTransfers(topology, plan);
  return Broken{description, std::to_string(dropped)};
}

// A dst rank gets a trainer stage a second time: from another trainer rank of
// that stage, or (two-stage) directly in stage 1 besides through stage 2.
std::optional<Broken> DuplicateReceiver(std::mt19937_64& rng, const SyncTopology& topology,
                                        SyncPlan& plan) {
  const std::vector<size_t> stage1 = TransfersOfStage(plan, 1);
  const std::vector<size_t> stage2 = TransfersOfStage(plan, 2);
  if (stage1.empty()) return std::nullopt;
  if (!stage2.empty() && Index(rng, 2) == 0) {
    // Stage 1 and stage 2: add the stage-2 receiver to a stage-1 group of its root.
    const PlannedTransfer relay = plan.transfers[Pick(rng, stage2)];
    const int receiver = relay.receivers.front();
    std::vector<size_t> feeding;
    for (size_t i : stage1) {
      const PlannedTransfer& t = plan.transfers[i];
      if (t.param_group == relay.param_group &&
          std::count(t.receivers.begin(), t.receivers.end(), relay.root) > 0) {
        feeding.push_back(i);
      }
    }
    if (feeding.empty()) return std::nullopt;
    PlannedTransfer& t = plan.transfers[Pick(rng, feeding)];
    const std::string prefix = Prefix(t);
    if (IsP2P(plan)) {
      plan.transfers.push_back({1, t.param_group, t.group_name, t.root, {receiver}});
    } else {
      t.receivers.push_back(receiver);
      Rename(plan, prefix, t);
    }
    DeriveFieldsFromTransfers(topology, plan);
    return Broken{absl::StrCat("dst rank ", receiver, " also gets in stage 1 what rank ",
                               relay.root, " relays to it in stage 2"),
                  std::to_string(receiver)};
  }
  const size_t i = Pick(rng, stage1);
  const PlannedTransfer original = plan.transfers[i];
  const int receiver = Pick(rng, original.receivers);
  const int stage = PipelineStageOf(topology, original.root);
  std::vector<int> others;
  for (int rank = 0; rank < NumSrc(topology); ++rank) {
    if (rank != original.root && PipelineStageOf(topology, rank) == stage) others.push_back(rank);
  }
  if (others.empty()) {
    // The only trainer rank of its stage: list the receiver twice.
    plan.transfers[i].receivers.push_back(receiver);
    Rename(plan, Prefix(original), plan.transfers[i]);
    DeriveFieldsFromTransfers(topology, plan);
    return Broken{absl::StrCat("dst rank ", receiver, " listed twice in one transfer"),
                  std::to_string(receiver)};
  }
  const int sender = Pick(rng, others);
  auto same_sender =
      std::find_if(plan.transfers.begin(), plan.transfers.end(), [&](const PlannedTransfer& t) {
        return t.stage == 1 && t.root == sender && t.param_group == original.param_group;
      });
  if (IsP2P(plan) || same_sender == plan.transfers.end()) {
    PlannedTransfer extra{1, original.param_group, original.group_name, sender, {receiver}};
    Rename(plan, Prefix(original), extra);
    plan.transfers.push_back(std::move(extra));
  } else {
    const std::string prefix = Prefix(*same_sender);
    same_sender->receivers.push_back(receiver);
    Rename(plan, prefix, *same_sender);
  }
  DeriveFieldsFromTransfers(topology, plan);
  return Broken{absl::StrCat("dst rank ", receiver, " gets src stage ", stage, " from ",
                             original.root, " and ", sender),
                std::to_string(receiver)};
}

std::optional<Broken> Stage2RootWithoutData(std::mt19937_64& rng, const SyncTopology& topology,
                                            SyncPlan& plan) {
  const std::vector<size_t> stage2 = TransfersOfStage(plan, 2);
  if (stage2.empty()) return std::nullopt;
  const size_t i = Pick(rng, stage2);
  PlannedTransfer& t = plan.transfers[i];
  std::set<int> got_stage1;
  for (const PlannedTransfer& other : plan.transfers) {
    if (other.stage == 1 && other.param_group == t.param_group) {
      got_stage1.insert(other.receivers.begin(), other.receivers.end());
    }
  }
  std::vector<int> idle;
  for (int rank = NumSrc(topology); rank < NumRanks(topology); ++rank) {
    if (got_stage1.count(rank) == 0 && rank != t.receivers.front()) idle.push_back(rank);
  }
  if (idle.empty()) return std::nullopt;
  const std::string prefix = Prefix(t);
  t.root = Pick(rng, idle);
  Rename(plan, prefix, t);
  DeriveFieldsFromTransfers(topology, plan);
  return Broken{absl::StrCat("stage-2 transfer from rank ", t.root, ", which got nothing"),
                std::to_string(t.root)};
}

std::optional<Broken> ReceiversShareGpu(std::mt19937_64& rng, SyncTopology& topology,
                                        const SyncPlan& plan) {
  std::vector<std::vector<int>> groups;
  for (const PlannedTransfer& t : plan.transfers) {
    if (t.receivers.size() >= 2) groups.push_back(t.receivers);
  }
  if (groups.empty()) {
    // All-gather groups are NCCL groups too.
    for (const std::vector<int>& group : plan.regroup_groups) {
      const std::string name =
          absl::StrCat(topology.group_name, kAllGatherInfix, absl::StrJoin(group, "_"));
      if (group.size() >= 2 &&
          std::count(plan.collective_groups.begin(), plan.collective_groups.end(), name) > 0) {
        groups.push_back(group);
      }
    }
  }
  if (groups.empty()) return std::nullopt;
  const std::vector<int>& group = Pick(rng, groups);
  const size_t a = Index(rng, group.size());
  size_t b = Index(rng, group.size() - 1);
  if (b >= a) ++b;
  const EndpointPlacement& first = EndpointOf(topology, group[a]);
  EndpointPlacement& second = EndpointOf(topology, group[b]);
  second.node = first.node;
  second.gpu = first.gpu;
  return Broken{absl::StrCat("ranks ", group[a], " and ", group[b], " on one GPU"),
                std::to_string(group[b])};
}

std::optional<Broken> DuplicateGroupName(std::mt19937_64& rng, const SyncTopology& topology,
                                         SyncPlan& plan) {
  if (IsP2P(plan) || plan.transfers.size() < 2) return std::nullopt;
  const size_t i = Index(rng, plan.transfers.size());
  std::vector<size_t> others;
  for (size_t j = 0; j < plan.transfers.size(); ++j) {
    if (j != i && !SameMembers(plan.transfers[i], plan.transfers[j])) others.push_back(j);
  }
  if (others.empty()) return std::nullopt;
  const size_t j = Pick(rng, others);
  plan.transfers[j].group_name = plan.transfers[i].group_name;
  DeriveFieldsFromTransfers(topology, plan);
  return Broken{absl::StrCat("transfers ", i, " and ", j, " share a group name"),
                plan.transfers[i].group_name, /*needle_is_rank=*/false};
}

std::optional<Broken> GroupListMismatch(std::mt19937_64& rng, const SyncTopology& topology,
                                        SyncPlan& plan) {
  if (!IsP2P(plan) && !plan.transfers.empty() && Index(rng, 2) == 0) {
    const std::string name = Pick(rng, plan.transfers).group_name;
    plan.collective_groups.erase(
        std::find(plan.collective_groups.begin(), plan.collective_groups.end(), name));
    return Broken{absl::StrCat("collective_groups lacks \"", name, "\""), name, false};
  }
  const int receiver = NumRanks(topology) - 1;
  const std::string name =
      absl::StrCat(topology.group_name, "_stage3_comm_default_from_0_to_", receiver);
  plan.collective_groups.insert(
      std::lower_bound(plan.collective_groups.begin(), plan.collective_groups.end(), name), name);
  return Broken{absl::StrCat("collective_groups lists \"", name, "\""), name, false};
}

std::optional<Broken> SrcRankReceives(std::mt19937_64& rng, const SyncTopology& topology,
                                      SyncPlan& plan) {
  if (plan.transfers.empty()) return std::nullopt;
  PlannedTransfer& t = plan.transfers[Index(rng, plan.transfers.size())];
  std::vector<int> candidates;
  for (int rank = 0; rank < NumSrc(topology); ++rank) {
    if (rank != t.root) candidates.push_back(rank);
  }
  if (candidates.empty()) return std::nullopt;
  const std::string prefix = Prefix(t);
  const int receiver = Pick(rng, candidates);
  t.receivers[Index(rng, t.receivers.size())] = receiver;
  Rename(plan, prefix, t);
  DeriveFieldsFromTransfers(topology, plan);
  return Broken{absl::StrCat("src rank ", receiver, " receives"), std::to_string(receiver)};
}

std::optional<Broken> RankOutsideTopology(std::mt19937_64& rng, const SyncTopology& topology,
                                          SyncPlan& plan) {
  if (plan.transfers.empty()) return std::nullopt;
  PlannedTransfer& t = plan.transfers[Index(rng, plan.transfers.size())];
  const std::string prefix = Prefix(t);
  int bad = 0;
  switch (Index(rng, 3)) {
    case 0:
      bad = NumRanks(topology) + static_cast<int>(Index(rng, 3));
      t.receivers[Index(rng, t.receivers.size())] = bad;
      break;
    case 1:
      bad = -1 - static_cast<int>(Index(rng, 2));
      t.receivers[Index(rng, t.receivers.size())] = bad;
      break;
    default:
      bad = Index(rng, 2) == 0 ? -1 : NumRanks(topology) + 7;
      t.root = bad;
      break;
  }
  Rename(plan, prefix, t);
  DeriveFieldsFromTransfers(topology, plan);
  return Broken{absl::StrCat("rank ", bad, " outside the topology"), std::to_string(bad)};
}

}  // namespace

absl::string_view MutationName(Mutation mutation) {
  switch (mutation) {
    case Mutation::kDropPair:
      return "drop a stage-1 pair";
    case Mutation::kDuplicateReceiver:
      return "duplicate a receiver";
    case Mutation::kStage2RootWithoutData:
      return "stage-2 root without stage-1 data";
    case Mutation::kReceiversShareGpu:
      return "two receivers on one GPU";
    case Mutation::kDuplicateGroupName:
      return "duplicate group name";
    case Mutation::kGroupListMismatch:
      return "transfers / collective_groups mismatch";
    case Mutation::kSrcRankReceives:
      return "src rank as receiver";
    case Mutation::kRankOutsideTopology:
      return "rank outside the topology";
  }
  return "unknown";
}

std::optional<Broken> Mutate(Mutation mutation, std::mt19937_64& rng, SyncTopology& topology,
                             SyncPlan& plan) {
  switch (mutation) {
    case Mutation::kDropPair:
      return DropPair(rng, topology, plan);
    case Mutation::kDuplicateReceiver:
      return DuplicateReceiver(rng, topology, plan);
    case Mutation::kStage2RootWithoutData:
      return Stage2RootWithoutData(rng, topology, plan);
    case Mutation::kReceiversShareGpu:
      return ReceiversShareGpu(rng, topology, plan);
    case Mutation::kDuplicateGroupName:
      return DuplicateGroupName(rng, topology, plan);
    case Mutation::kGroupListMismatch:
      return GroupListMismatch(rng, topology, plan);
    case Mutation::kSrcRankReceives:
      return SrcRankReceives(rng, topology, plan);
    case Mutation::kRankOutsideTopology:
      return RankOutsideTopology(rng, topology, plan);
  }
  return std::nullopt;
}

void DeriveFieldsFromTransfers(const SyncTopology& topology, SyncPlan& plan) {
  (void)topology;
  plan.stage1.clear();
  plan.stage2.clear();
  plan.routed_experts.clear();
  std::vector<std::string> names;
  for (const std::string& name : plan.collective_groups) {
    if (absl::StrContains(name, kAllGatherInfix)) names.push_back(name);
  }
  for (const PlannedTransfer& t : plan.transfers) {
    auto& pairs = t.stage == 2 ? plan.stage2
                               : (t.param_group == "routed" ? plan.routed_experts : plan.stage1);
    for (int receiver : t.receivers) pairs.emplace_back(t.root, receiver);
    if (!IsP2P(plan)) names.push_back(t.group_name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  plan.collective_groups = std::move(names);
}

bool MentionsNumber(absl::string_view text, int number) {
  const std::string needle = std::to_string(number);
  for (size_t at = text.find(needle); at != absl::string_view::npos;
       at = text.find(needle, at + 1)) {
    const bool digit_before = at > 0 && (std::isdigit(static_cast<unsigned char>(text[at - 1])) ||
                                         (number >= 0 && text[at - 1] == '-'));
    const size_t end = at + needle.size();
    const bool digit_after =
        end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]));
    if (!digit_before && !digit_after) return true;
  }
  return false;
}

}  // namespace paramsync::planner::testing
