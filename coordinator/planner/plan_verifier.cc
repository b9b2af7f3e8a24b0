#include "coordinator/planner/plan_verifier.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "coordinator/planner/topology_validation.h"

namespace paramsync::planner {
namespace {

// Problems of one rule; the error lists the first kMaxListed and counts the rest.
constexpr size_t kMaxListed = 8;

class Problems {
 public:
  void Add(std::string problem) {
    if (listed_.size() < kMaxListed) listed_.push_back(std::move(problem));
    ++count_;
  }

  // OK when there is no problem.
  absl::Status Error(absl::string_view rule) const {
    if (count_ == 0) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "sync plan check failed (", rule, "): ", absl::StrJoin(listed_, "; "),
        count_ > listed_.size() ? absl::StrCat("; and ", count_ - listed_.size(), " more") : ""));
  }

 private:
  std::vector<std::string> listed_;
  size_t count_ = 0;
};

absl::Status Fail(absl::string_view rule, std::string problem) {
  Problems problems;
  problems.Add(std::move(problem));
  return problems.Error(rule);
}

enum ParamGroup { kDefault = 0, kExceptRouted = 1, kRouted = 2, kNumParamGroups = 3 };
constexpr absl::string_view kParamGroupNames[kNumParamGroups] = {"default", "except_routed",
                                                                 "routed"};

int ParamGroupIndex(absl::string_view name) {
  for (int g = 0; g < kNumParamGroups; ++g) {
    if (kParamGroupNames[g] == name) return g;
  }
  return -1;
}

// The ranks of the topology and their endpoints.
struct Ranks {
  int num_src = 0;
  int num_dst = 0;
  int stages_per_dst_stage = 1;  // src.pp / dst.pp.
  std::vector<const EndpointPlacement*> by_rank;

  int total() const { return num_src + num_dst; }
  bool Contains(int rank) const { return rank >= 0 && rank < total(); }
  bool IsSrc(int rank) const { return rank < num_src; }
  uint64_t Gpu(int rank) const {
    const EndpointPlacement& e = *by_rank[rank];
    return (static_cast<uint64_t>(static_cast<uint32_t>(e.node)) << 32) |
           static_cast<uint32_t>(e.gpu);
  }
  std::string GpuName(int rank) const {
    return absl::StrCat("node ", by_rank[rank]->node, " gpu ", by_rank[rank]->gpu);
  }
  // Trainer pipeline stage of a trainer rank; inference stage of an inference rank.
  int PipelineStage(int rank) const { return by_rank[rank]->pp_rank; }
};

std::string Side(const Ranks& ranks, int rank) {
  if (!ranks.Contains(rank)) return absl::StrCat("rank ", rank);
  return absl::StrCat(ranks.IsSrc(rank) ? "src" : "dst", " rank ", rank);
}

std::string DescribeTransfer(const std::vector<PlannedTransfer>& transfers, size_t index) {
  const PlannedTransfer& t = transfers[index];
  return absl::StrCat("transfer ", index, " (stage ", t.stage, ", \"", t.param_group,
                      "\", group \"", t.group_name, "\", root ", t.root, ", receivers ",
                      absl::StrJoin(t.receivers, ","), ")");
}

// Rule 1.
absl::StatusOr<Ranks> IndexEndpoints(const SyncTopology& topology) {
  constexpr absl::string_view kRule = "endpoints";
  const ModelParallelism& src = topology.src;
  const ModelParallelism& dst = topology.dst;
  for (const auto& [name, value] : {std::pair<absl::string_view, int>{"src.tp", src.tp},
                                    {"src.pp", src.pp},
                                    {"src.dp", src.dp},
                                    {"dst.tp", dst.tp},
                                    {"dst.pp", dst.pp},
                                    {"dst.ep", dst.ep},
                                    {"dst.replicas", dst.replicas}}) {
    if (value < 1 || value > kMaxParallelSize) {
      return Fail(kRule, absl::StrCat(name, " is ", value, ", outside 1 .. ", kMaxParallelSize));
    }
  }
  const int64_t num_src = int64_t{src.tp} * src.pp * src.dp;
  const int64_t num_dst = int64_t{dst.replicas} * dst.tp * dst.pp * dst.ep;
  if (num_src > kMaxRanksPerSide || num_dst > kMaxRanksPerSide) {
    return Fail(kRule, absl::StrCat("the topology has ", num_src, " src and ", num_dst,
                                    " dst ranks, more than ", kMaxRanksPerSide, " on a side"));
  }
  if (src.pp % dst.pp != 0) {
    return Fail(kRule, absl::StrCat("dst.pp ", dst.pp, " does not divide src.pp ", src.pp));
  }
  Ranks ranks;
  ranks.num_src = static_cast<int>(num_src);
  ranks.num_dst = static_cast<int>(num_dst);
  ranks.stages_per_dst_stage = src.pp / dst.pp;
  ranks.by_rank.assign(ranks.total(), nullptr);
  for (size_t i = 0; i < topology.endpoints.size(); ++i) {
    const EndpointPlacement& e = topology.endpoints[i];
    if (!ranks.Contains(e.rank)) {
      return Fail(kRule,
                  absl::StrCat("endpoints[", i, "] is rank ", e.rank,
                               ", not in the topology (ranks 0 .. ", ranks.total() - 1, ")"));
    }
    if (ranks.by_rank[e.rank] != nullptr) {
      return Fail(kRule, absl::StrCat("rank ", e.rank, " has two endpoints"));
    }
    if (e.is_src != ranks.IsSrc(e.rank)) {
      return Fail(kRule,
                  absl::StrCat("the endpoint of rank ", e.rank, " says ", e.is_src ? "src" : "dst",
                               "; ranks 0 .. ", ranks.num_src - 1, " are src, the others dst"));
    }
    const int pp = e.is_src ? src.pp : dst.pp;
    if (e.pp_rank < 0 || e.pp_rank >= pp) {
      return Fail(kRule, absl::StrCat("the endpoint of ", Side(ranks, e.rank), " has pp_rank ",
                                      e.pp_rank, ", outside 0 .. ", pp - 1));
    }
    ranks.by_rank[e.rank] = &e;
  }
  Problems missing;
  for (int rank = 0; rank < ranks.total(); ++rank) {
    if (ranks.by_rank[rank] == nullptr) {
      missing.Add(absl::StrCat("the endpoint of ", Side(ranks, rank), " is missing"));
    }
  }
  RETURN_IF_ERROR(missing.Error(kRule));
  return ranks;
}

// The name suffix of a broadcast group: "_{param_group}_from_{root}_to_{r1}_{r2}...".
std::string BroadcastSuffix(const PlannedTransfer& t) {
  return absl::StrCat("_", t.param_group, "_from_", t.root, "_to_",
                      absl::StrJoin(t.receivers, "_"));
}

// Whether `name` is "{group_name}[_...]" followed by BroadcastSuffix(t), the
// two parts not overlapping. Allocation-free: walks the name from its end.
bool NamedAfterMembers(absl::string_view name, absl::string_view group_name,
                       const PlannedTransfer& t) {
  if (!absl::StartsWith(name, group_name)) return false;
  absl::string_view rest = name.substr(group_name.size());
  const auto strip = [&rest](absl::string_view tail) {
    if (!absl::EndsWith(rest, tail)) return false;
    rest.remove_suffix(tail.size());
    return true;
  };
  const auto strip_int = [&strip](int value) {
    char digits[16];
    const std::to_chars_result end = std::to_chars(digits, digits + sizeof(digits), value);
    return strip(absl::string_view(digits, end.ptr - digits));
  };
  for (size_t k = t.receivers.size(); k-- > 0;) {
    if (!strip_int(t.receivers[k]) || (k > 0 && !strip("_"))) return false;
  }
  return strip("_to_") && strip_int(t.root) && strip("_from_") && strip(t.param_group) &&
         strip("_");
}

// Rule 2.
absl::Status CheckTransfersWellFormed(const SyncTopology& topology, const SyncPlan& plan,
                                      const Ranks& ranks) {
  constexpr absl::string_view kRule = "well-formed transfers";
  const bool p2p = plan.comm_type == CommType::kP2P;
  // Transfer index + 1 of the last transfer that listed a rank as a receiver.
  std::vector<size_t> listed_by(ranks.total(), 0);
  for (size_t i = 0; i < plan.transfers.size(); ++i) {
    const PlannedTransfer& t = plan.transfers[i];
    const int group = ParamGroupIndex(t.param_group);
    auto fail = [&](absl::string_view what) {
      return Fail(kRule, absl::StrCat(DescribeTransfer(plan.transfers, i), ": ", what));
    };
    if (t.stage != 1 && t.stage != 2) return fail("stage must be 1 or 2");
    if (group < 0) return fail("param_group must be \"default\", \"except_routed\" or \"routed\"");
    if (group == kRouted && t.stage != 1) return fail("routed experts move in stage 1 only");
    if (t.receivers.empty()) return fail("it has no receiver");
    if (!ranks.Contains(t.root)) {
      return fail(absl::StrCat("root ", t.root, " is not a rank of the topology (0 .. ",
                               ranks.total() - 1, ")"));
    }
    if (t.stage == 1 && !ranks.IsSrc(t.root)) {
      return fail(absl::StrCat("root ", Side(ranks, t.root),
                               " is not a trainer rank; stage 1 sends from src ranks"));
    }
    if (t.stage == 2 && ranks.IsSrc(t.root)) {
      return fail(absl::StrCat("root ", Side(ranks, t.root),
                               " is a trainer rank; stage 2 sends from dst ranks"));
    }
    for (int receiver : t.receivers) {
      if (!ranks.Contains(receiver)) {
        return fail(absl::StrCat("receiver ", receiver, " is not a rank of the topology (0 .. ",
                                 ranks.total() - 1, ")"));
      }
      if (ranks.IsSrc(receiver)) {
        return fail(absl::StrCat("receiver ", Side(ranks, receiver),
                                 " is a trainer rank; only dst ranks receive"));
      }
      if (receiver == t.root) return fail(absl::StrCat("rank ", receiver, " sends to itself"));
      if (listed_by[receiver] == i + 1) {
        return fail(absl::StrCat("receiver ", Side(ranks, receiver), " is listed twice"));
      }
      listed_by[receiver] = i + 1;
    }
    if (p2p) {
      if (t.receivers.size() != 1) return fail("a p2p transfer has exactly one receiver");
      if (t.group_name != topology.group_name) {
        return fail(absl::StrCat("p2p transfers run in the sync's global group \"",
                                 topology.group_name, "\""));
      }
    }
  }
  return absl::OkStatus();
}

// All-gather groups by name.
using AllGatherGroups = absl::flat_hash_map<std::string, const std::vector<int>*>;

// The all-gather groups of plan.regroup_groups that collective_groups names.
AllGatherGroups NamedAllGatherGroups(const SyncTopology& topology, const SyncPlan& plan) {
  AllGatherGroups named;
  for (const std::vector<int>& group : plan.regroup_groups) {
    named.emplace(
        absl::StrCat(topology.group_name, "_allgather_routed_among_", absl::StrJoin(group, "_")),
        &group);
  }
  AllGatherGroups listed;
  for (const std::string& name : plan.collective_groups) {
    auto it = named.find(name);
    if (it != named.end()) listed.insert(*it);
  }
  return listed;
}

// Rule 3.
absl::Status CheckGpus(const SyncPlan& plan, const Ranks& ranks,
                       const AllGatherGroups& all_gather) {
  constexpr absl::string_view kRule = "one GPU per group member";
  Problems problems;
  absl::flat_hash_map<uint64_t, int> rank_on_gpu;
  for (size_t i = 0; i < plan.transfers.size(); ++i) {
    const std::vector<int>& receivers = plan.transfers[i].receivers;
    const auto share = [&](int first, int second) {
      problems.Add(absl::StrCat("receivers ", first, " and ", second, " of ",
                                DescribeTransfer(plan.transfers, i), " share ",
                                ranks.GpuName(second)));
    };
    if (receivers.size() <= 16) {  // The usual case: pairwise beats hashing.
      for (size_t b = 1; b < receivers.size(); ++b) {
        for (size_t a = 0; a < b; ++a) {
          if (ranks.Gpu(receivers[a]) == ranks.Gpu(receivers[b])) {
            share(receivers[a], receivers[b]);
            break;
          }
        }
      }
      continue;
    }
    rank_on_gpu.clear();
    for (int receiver : receivers) {
      auto [it, inserted] = rank_on_gpu.emplace(ranks.Gpu(receiver), receiver);
      if (!inserted) share(it->second, receiver);
    }
  }
  for (const auto& [name, members] : all_gather) {
    rank_on_gpu.clear();
    for (int member : *members) {
      if (!ranks.Contains(member) || !ranks.IsSrc(member)) {
        problems.Add(absl::StrCat("all-gather group \"", name, "\" holds ", Side(ranks, member),
                                  ", not a trainer rank"));
        continue;
      }
      auto [it, inserted] = rank_on_gpu.emplace(ranks.Gpu(member), member);
      if (!inserted) {
        problems.Add(absl::StrCat("ranks ", it->second, " and ", member, " of all-gather group \"",
                                  name, "\" share ", ranks.GpuName(member)));
      }
    }
  }
  return problems.Error(kRule);
}

bool SameMembers(const PlannedTransfer& a, const PlannedTransfer& b) {
  if (a.root != b.root || a.receivers.size() != b.receivers.size()) return false;
  std::vector<int> x = a.receivers;
  std::vector<int> y = b.receivers;
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  return x == y;
}

// Rule 4. Names are checked against members first: a name that passes names
// one membership (its suffix spells out the root and the receivers in order),
// so a shared name can only show up as a name that fails.
absl::Status CheckGroupNames(const SyncTopology& topology, const SyncPlan& plan,
                             const AllGatherGroups& all_gather) {
  const bool p2p = plan.comm_type == CommType::kP2P;
  for (size_t i = 0; !p2p && i < plan.transfers.size(); ++i) {
    const PlannedTransfer& t = plan.transfers[i];
    if (NamedAfterMembers(t.group_name, topology.group_name, t)) continue;
    for (size_t j = 0; j < plan.transfers.size(); ++j) {
      if (j != i && plan.transfers[j].group_name == t.group_name &&
          !SameMembers(plan.transfers[j], t)) {
        return Fail("unique group names",
                    absl::StrCat("group \"", t.group_name, "\" names both ",
                                 DescribeTransfer(plan.transfers, std::min(i, j)), " and ",
                                 DescribeTransfer(plan.transfers, std::max(i, j))));
      }
    }
    return Fail("group names",
                absl::StrCat(DescribeTransfer(plan.transfers, i),
                             ": a broadcast group of these members is named \"",
                             topology.group_name, "[_...]", BroadcastSuffix(t), "\""));
  }

  Problems mismatches;
  // Index in collective_groups by name, and whether a transfer runs in it.
  absl::flat_hash_map<absl::string_view, size_t> listed;
  listed.reserve(plan.collective_groups.size());
  std::vector<bool> used(plan.collective_groups.size(), false);
  for (size_t k = 0; k < plan.collective_groups.size(); ++k) {
    if (!listed.emplace(plan.collective_groups[k], k).second) {
      mismatches.Add(
          absl::StrCat("collective_groups lists \"", plan.collective_groups[k], "\" twice"));
      used[k] = true;
    }
  }
  for (size_t i = 0; !p2p && i < plan.transfers.size(); ++i) {
    auto it = listed.find(plan.transfers[i].group_name);
    if (it == listed.end()) {
      mismatches.Add(absl::StrCat(DescribeTransfer(plan.transfers, i),
                                  " runs in a group missing from collective_groups"));
    } else {
      used[it->second] = true;
    }
  }
  for (size_t k = 0; k < plan.collective_groups.size(); ++k) {
    if (!used[k] && all_gather.count(plan.collective_groups[k]) == 0) {
      mismatches.Add(absl::StrCat("collective_groups lists \"", plan.collective_groups[k],
                                  "\", which is neither a transfer's group nor the all-gather "
                                  "group of a regroup group"));
    }
  }
  return mismatches.Error("transfers match collective_groups");
}

// What an inference rank receives: one trainer pipeline stage, through one transfer.
struct Receipt {
  int src_stage = 0;
  int transfer = 0;
};

// Rules 5 and 6.
class CoverageCheck {
 public:
  CoverageCheck(const SyncTopology& topology, const SyncPlan& plan, const Ranks& ranks)
      : topology_(topology), plan_(plan), ranks_(ranks) {}

  absl::Status Run() {
    RETURN_IF_ERROR(CheckParamGroups());
    CollectStage1();
    RETURN_IF_ERROR(CollectStage2());
    return CheckExactlyOnce();
  }

 private:
  std::vector<Receipt>& Got(int group, int dst_rank) {
    return received_[group][dst_rank - ranks_.num_src];
  }

  // Which param groups every dst rank must receive.
  absl::Status CheckParamGroups() {
    int first_of[kNumParamGroups] = {-1, -1, -1};
    for (size_t i = 0; i < plan_.transfers.size(); ++i) {
      const int g = ParamGroupIndex(plan_.transfers[i].param_group);
      if (first_of[g] < 0) first_of[g] = static_cast<int>(i);
    }
    if (first_of[kDefault] >= 0) {
      for (int g : {kExceptRouted, kRouted}) {
        if (first_of[g] >= 0) {
          return Fail("param groups",
                      absl::StrCat("the plan mixes \"default\" (",
                                   DescribeTransfer(plan_.transfers, first_of[kDefault]),
                                   ") with \"", kParamGroupNames[g], "\" (",
                                   DescribeTransfer(plan_.transfers, first_of[g]), ")"));
        }
      }
    }
    for (int g = 0; g < kNumParamGroups; ++g) needed_[g] = first_of[g] >= 0;
    if (needed_[kRouted]) needed_[kExceptRouted] = true;
    if (needed_[kExceptRouted] && !RoutedExpertsRideExceptRouted()) needed_[kRouted] = true;
    if (!needed_[kExceptRouted]) needed_[kDefault] = true;
    for (int g = 0; g < kNumParamGroups; ++g) {
      if (needed_[g]) received_[g].resize(ranks_.num_dst);
    }
    return absl::OkStatus();
  }

  // ChatLearn's HEP sync with vLLM inference and unequal TP x EP maps no
  // routed-expert pairs (RoutedExpertMapping::kRegroupOnly).
  bool RoutedExpertsRideExceptRouted() const {
    const ModelParallelism& src = topology_.src;
    const ModelParallelism& dst = topology_.dst;
    return topology_.hep && dst.engine == kEngineVllm &&
           int64_t{src.tp} * src.ep != int64_t{dst.tp} * dst.ep && !plan_.regroup_groups.empty();
  }

  void CollectStage1() {
    for (size_t i = 0; i < plan_.transfers.size(); ++i) {
      const PlannedTransfer& t = plan_.transfers[i];
      if (t.stage != 1) continue;
      const int g = ParamGroupIndex(t.param_group);
      const int src_stage = ranks_.PipelineStage(t.root);
      for (int receiver : t.receivers) {
        Got(g, receiver).push_back({src_stage, static_cast<int>(i)});
      }
    }
    for (int g = 0; g < kNumParamGroups; ++g) {
      stage1_count_[g].resize(received_[g].size());
      for (size_t d = 0; d < received_[g].size(); ++d) {
        stage1_count_[g][d] = received_[g][d].size();
      }
    }
  }

  // Stage 2 relays what its root received in stage 1.
  absl::Status CollectStage2() {
    Problems problems;
    for (size_t i = 0; i < plan_.transfers.size(); ++i) {
      const PlannedTransfer& t = plan_.transfers[i];
      if (t.stage != 2) continue;
      const int g = ParamGroupIndex(t.param_group);
      const size_t relayed = stage1_count_[g][t.root - ranks_.num_src];
      if (relayed == 0) {
        problems.Add(absl::StrCat("stage-2 root ", Side(ranks_, t.root), " of ",
                                  DescribeTransfer(plan_.transfers, i), " receives no \"",
                                  t.param_group, "\" weights in stage 1"));
        continue;
      }
      for (int receiver : t.receivers) {
        std::vector<Receipt>& got = Got(g, receiver);
        const std::vector<Receipt>& from = Got(g, t.root);
        for (size_t k = 0; k < relayed; ++k) {
          got.push_back({from[k].src_stage, static_cast<int>(i)});
        }
      }
    }
    return problems.Error("stage 2 relays stage 1");
  }

  std::string Via(const Receipt& receipt) const {
    const PlannedTransfer& t = plan_.transfers[receipt.transfer];
    return absl::StrCat("rank ", t.root, " in stage ", t.stage, " (group \"", t.group_name, "\")");
  }

  absl::Status CheckExactlyOnce() {
    const int per_stage = ranks_.stages_per_dst_stage;
    std::vector<int> stamp(per_stage, -1);
    std::vector<const Receipt*> first(per_stage, nullptr);
    Problems twice;
    Problems misplaced;
    Problems missing;
    for (int g = 0; g < kNumParamGroups; ++g) {
      if (!needed_[g]) continue;
      const absl::string_view group = kParamGroupNames[g];
      for (int d = 0; d < ranks_.num_dst; ++d) {
        const int rank = ranks_.num_src + d;
        const int dst_stage = ranks_.PipelineStage(rank);
        const int lo = dst_stage * per_stage;
        const int stamp_value = g * ranks_.num_dst + d;
        int covered = 0;
        for (const Receipt& receipt : received_[g][d]) {
          const int offset = receipt.src_stage - lo;
          if (offset < 0 || offset >= per_stage) {
            misplaced.Add(absl::StrCat(
                "dst rank ", rank, " (pipeline stage ", dst_stage, ") receives \"", group,
                "\" of src pipeline stage ", receipt.src_stage, " from ", Via(receipt),
                ", which maps onto dst pipeline stage ", receipt.src_stage / per_stage));
            continue;
          }
          if (stamp[offset] == stamp_value) {
            twice.Add(absl::StrCat("dst rank ", rank, " receives \"", group,
                                   "\" of src pipeline stage ", receipt.src_stage, " twice: from ",
                                   Via(*first[offset]), " and from ", Via(receipt)));
            continue;
          }
          stamp[offset] = stamp_value;
          first[offset] = &receipt;
          ++covered;
        }
        if (covered < per_stage) {
          std::vector<int> lacking;
          for (int offset = 0; offset < per_stage; ++offset) {
            if (stamp[offset] != stamp_value) lacking.push_back(lo + offset);
          }
          missing.Add(absl::StrCat("dst rank ", rank, " (pipeline stage ", dst_stage,
                                   ") would not receive \"", group, "\" of src pipeline stage",
                                   lacking.size() > 1 ? "s " : " ", absl::StrJoin(lacking, ", ")));
        }
      }
    }
    RETURN_IF_ERROR(twice.Error("each dst rank written once"));
    RETURN_IF_ERROR(misplaced.Error("pipeline stages map onto dst stages"));
    return missing.Error("every dst rank receives every parameter");
  }

  const SyncTopology& topology_;
  const SyncPlan& plan_;
  const Ranks& ranks_;
  bool needed_[kNumParamGroups] = {false, false, false};
  // By param group, then by dst rank - num_src.
  std::vector<std::vector<Receipt>> received_[kNumParamGroups];
  std::vector<size_t> stage1_count_[kNumParamGroups];
};

uint64_t PairKey(int sender, int receiver) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(sender)) << 32) |
         static_cast<uint32_t>(receiver);
}

// Compares one pair list of the plan with the pairs its transfers imply.
absl::Status CheckPairList(absl::string_view field, const std::vector<std::pair<int, int>>& listed,
                           std::vector<uint64_t> implied) {
  std::vector<uint64_t> keys;
  keys.reserve(listed.size());
  for (const auto& [sender, receiver] : listed) keys.push_back(PairKey(sender, receiver));
  if (keys == implied) return absl::OkStatus();  // Same order (the planner's stage 1).
  std::sort(keys.begin(), keys.end());
  std::sort(implied.begin(), implied.end());
  if (keys == implied) return absl::OkStatus();
  auto [a, b] = std::mismatch(keys.begin(), keys.end(), implied.begin(), implied.end());
  const bool extra_in_list = b == implied.end() || (a != keys.end() && *a < *b);
  const uint64_t key = extra_in_list ? *a : *b;
  const int sender = static_cast<int>(key >> 32);
  const int receiver = static_cast<int>(key & 0xffffffffu);
  return Fail("pair lists match transfers",
              absl::StrCat("plan.", field, extra_in_list ? " lists" : " lacks", " pair (", sender,
                           ", ", receiver, ")",
                           extra_in_list ? ", which no transfer implies (as often)"
                                         : ", which the transfers imply"));
}

// Rule 7.
absl::Status CheckPairLists(const SyncPlan& plan) {
  std::vector<uint64_t> stage1;
  std::vector<uint64_t> stage2;
  std::vector<uint64_t> routed;
  for (const PlannedTransfer& t : plan.transfers) {
    std::vector<uint64_t>& out =
        t.stage == 2 ? stage2 : (ParamGroupIndex(t.param_group) == kRouted ? routed : stage1);
    for (int receiver : t.receivers) out.push_back(PairKey(t.root, receiver));
  }
  RETURN_IF_ERROR(CheckPairList("stage1", plan.stage1, std::move(stage1)));
  RETURN_IF_ERROR(CheckPairList("stage2", plan.stage2, std::move(stage2)));
  return CheckPairList("routed_experts", plan.routed_experts, std::move(routed));
}

}  // namespace

absl::Status VerifySyncPlan(const SyncTopology& topology, const SyncPlan& plan) {
  ASSIGN_OR_RETURN(const Ranks ranks, IndexEndpoints(topology));
  RETURN_IF_ERROR(CheckTransfersWellFormed(topology, plan, ranks));
  const AllGatherGroups all_gather = NamedAllGatherGroups(topology, plan);
  RETURN_IF_ERROR(CheckGpus(plan, ranks, all_gather));
  RETURN_IF_ERROR(CheckGroupNames(topology, plan, all_gather));
  RETURN_IF_ERROR(CoverageCheck(topology, plan, ranks).Run());
  return CheckPairLists(plan);
}

}  // namespace paramsync::planner
