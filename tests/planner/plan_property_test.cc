// Property tests of the planner and its verifier over thousands of random,
// structurally valid topologies (fixed seeds, so every run sees the same ones):
//   - BuildSyncPlan either plans or refuses with INVALID_ARGUMENT, never another
//     code and never a crash;
//   - every plan it makes passes VerifySyncPlan;
//   - every plan broken by one of the mutations of plan_mutations.h is refused
//     with FAILED_PRECONDITION naming the offending rank or group.
// Topologies cover trainer tp 1/2/4/8, pp 1/2/4, ep and HEP, dp; inference tp a
// multiple of the trainer's (sometimes not, to exercise refusals), pp dividing
// the trainer's (sometimes not), vLLM and Megatron engines, 1-4 replicas;
// colocated (inference ranks on the trainer's GPUs, reversed within a node, as
// ChatLearn places them), disaggregated and partly shared placements on 1-2
// nodes; broadcast and p2p.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdint>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/planner/plan_builder.h"
#include "coordinator/planner/plan_verifier.h"
#include "tests/planner/plan_mutations.h"

namespace paramsync::planner {
namespace {

using testing::Broken;
using testing::kAllMutations;
using testing::MentionsNumber;
using testing::Mutate;
using testing::Mutation;
using testing::MutationName;

constexpr int kTopologies = 4000;
constexpr uint64_t kSeed = 0x5eed5eedULL;

template <typename T>
T Choose(std::mt19937_64& rng, std::initializer_list<T> values) {
  std::vector<T> v(values);
  return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

bool Chance(std::mt19937_64& rng, double p) {
  return std::uniform_real_distribution<double>(0, 1)(rng) < p;
}

int Uniform(std::mt19937_64& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

enum class Placement { kColocated, kSrcFirst, kDstFirst, kPartlyShared };

const char* PlacementName(Placement p) {
  switch (p) {
    case Placement::kColocated:
      return "colocated";
    case Placement::kSrcFirst:
      return "separate (trainer first)";
    case Placement::kDstFirst:
      return "separate (inference first)";
    case Placement::kPartlyShared:
      return "partly shared GPUs";
  }
  return "?";
}

struct Generated {
  SyncTopology topology;
  Placement placement = Placement::kColocated;
};

// Global GPU index -> (node, gpu) with `per_node` GPUs a node.
void PlaceOn(int global_gpu, int per_node, EndpointPlacement& e) {
  e.node = global_gpu / per_node;
  e.gpu = global_gpu % per_node;
}

Generated RandomTopology(std::mt19937_64& rng) {
  Generated g;
  SyncTopology& t = g.topology;
  t.group_name = "prop";
  t.hep = Chance(rng, 0.35);
  t.comm_type = Chance(rng, 0.7) ? CommType::kBroadcast : CommType::kP2P;
  t.regroup_comm_type = Chance(rng, 0.5) ? RegroupCommType::kAllToAll : RegroupCommType::kAllGather;

  ModelParallelism& src = t.src;
  src.engine = std::string(kEngineMegatron);
  do {
    src.tp = Choose(rng, {1, 2, 4, 8});
    src.pp = Choose(rng, {1, 2, 4});
    src.ep = t.hep ? Choose(rng, {1, 2, 4, 8}) : Choose(rng, {1, 1, 1, 2});
    src.dp = src.ep * Choose(rng, {1, 1, 2, 3, 4});
  } while (src.tp * src.pp * src.dp > 128);

  ModelParallelism& dst = t.dst;
  dst.engine = std::string(Chance(rng, 0.75) ? kEngineVllm : kEngineMegatron);
  dst.tp =
      Chance(rng, 0.88) ? src.tp * Choose(rng, {1, 1, 2, 2, 4}) : Choose(rng, {1, 2, 3, 4, 6, 8});
  if (Chance(rng, 0.9)) {
    std::vector<int> divisors;
    for (int d = 1; d <= src.pp; ++d) {
      if (src.pp % d == 0) divisors.push_back(d);
    }
    dst.pp = divisors[Uniform(rng, 0, static_cast<int>(divisors.size()) - 1)];
  } else {
    dst.pp = Choose(rng, {1, 2, 4, 8});
  }
  if (dst.engine == kEngineVllm) {
    dst.ep = Chance(rng, 0.95) ? 1 : 2;
  } else {
    dst.ep = Chance(rng, 0.7) ? Choose(rng, {1, src.ep}) : Choose(rng, {1, 2, 4});
  }
  dst.replicas = Uniform(rng, 1, 4);

  const int num_src = src.tp * src.pp * src.dp;
  const int replica_size = dst.tp * dst.pp * dst.ep;
  if (Chance(rng, 0.5) && replica_size <= num_src) {
    g.placement = Placement::kColocated;
    dst.replicas = std::min(dst.replicas, num_src / replica_size);
  } else {
    g.placement = Choose(rng, {Placement::kSrcFirst, Placement::kDstFirst, Placement::kDstFirst,
                               Placement::kPartlyShared});
  }
  t.colocated = g.placement == Placement::kColocated;
  const int num_dst = dst.replicas * replica_size;
  const int nodes = Uniform(rng, 1, 2);

  // GPUs (global indices) of each side.
  std::vector<int> src_gpus(num_src);
  std::vector<int> dst_gpus(num_dst);
  int total_gpus = 0;
  switch (g.placement) {
    case Placement::kColocated:
      total_gpus = num_src;
      std::iota(src_gpus.begin(), src_gpus.end(), 0);
      std::iota(dst_gpus.begin(), dst_gpus.end(), 0);
      break;
    case Placement::kSrcFirst:
      total_gpus = num_src + num_dst;
      std::iota(src_gpus.begin(), src_gpus.end(), 0);
      std::iota(dst_gpus.begin(), dst_gpus.end(), num_src);
      break;
    case Placement::kDstFirst:
      total_gpus = num_src + num_dst;
      std::iota(dst_gpus.begin(), dst_gpus.end(), 0);
      std::iota(src_gpus.begin(), src_gpus.end(), num_dst);
      break;
    case Placement::kPartlyShared: {
      total_gpus = std::max(num_src, num_dst) + Uniform(rng, 0, std::max(num_src, num_dst));
      std::vector<int> pool(total_gpus);
      std::iota(pool.begin(), pool.end(), 0);
      std::shuffle(pool.begin(), pool.end(), rng);
      std::copy(pool.begin(), pool.begin() + num_src, src_gpus.begin());
      std::shuffle(pool.begin(), pool.end(), rng);
      std::copy(pool.begin(), pool.begin() + num_dst, dst_gpus.begin());
      break;
    }
  }
  const int per_node = (total_gpus + nodes - 1) / nodes;
  if (g.placement == Placement::kColocated) {
    // Each replica's ranks on its block of GPUs, in reverse order within a node.
    for (int begin = 0; begin < num_dst; begin += replica_size) {
      for (int lo = begin; lo < begin + replica_size;) {
        int hi = lo;
        while (hi < begin + replica_size && hi / per_node == lo / per_node) ++hi;
        std::reverse(dst_gpus.begin() + lo, dst_gpus.begin() + hi);
        lo = hi;
      }
    }
  }

  for (int rank = 0; rank < num_src; ++rank) {
    EndpointPlacement e;
    e.is_src = true;
    e.rank = e.local_rank = rank;
    e.tp_rank = rank % src.tp;
    e.dp_rank = (rank / src.tp) % src.dp;
    e.pp_rank = rank / (src.tp * src.dp);
    e.ep_rank = e.dp_rank % src.ep;
    PlaceOn(src_gpus[rank], per_node, e);
    t.endpoints.push_back(e);
  }
  for (int i = 0; i < num_dst; ++i) {
    EndpointPlacement e;
    e.rank = num_src + i;
    e.replica = i / replica_size;
    e.local_rank = i % replica_size;
    e.tp_rank = e.local_rank % dst.tp;
    if (dst.engine == kEngineVllm) {
      e.pp_rank = e.local_rank / dst.tp;
    } else {
      e.dp_rank = e.ep_rank = (e.local_rank / dst.tp) % dst.ep;
      e.pp_rank = e.local_rank / (dst.tp * dst.ep);
    }
    PlaceOn(dst_gpus[i], per_node, e);
    t.endpoints.push_back(e);
  }
  // Endpoints in any order.
  std::shuffle(t.endpoints.begin(), t.endpoints.end(), rng);
  return g;
}

std::string Describe(const Generated& g) {
  const SyncTopology& t = g.topology;
  return absl::StrCat("src tp", t.src.tp, " pp", t.src.pp, " ep", t.src.ep, " dp", t.src.dp, " -> ",
                      t.dst.engine, " tp", t.dst.tp, " pp", t.dst.pp, " ep", t.dst.ep, " x",
                      t.dst.replicas, t.hep ? " hep" : "", " ", CommTypeName(t.comm_type), " ",
                      RegroupCommTypeName(t.regroup_comm_type), ", ", PlacementName(g.placement));
}

// A refusal's reason with its numbers blanked out, up to the first ';'
// ("dst ranks N would receive no weights: ...").
std::string RefusalKind(absl::string_view message) {
  message = message.substr(0, std::min(message.find(';'), message.find(": an")));
  std::string kind;
  for (size_t i = 0; i < message.size();) {
    const bool in_word = i > 0 && std::isalnum(static_cast<unsigned char>(message[i - 1]));
    if (in_word || !std::isdigit(static_cast<unsigned char>(message[i]))) {
      kind += message[i++];
      continue;
    }
    // A number, or a list of them ("10, 11, 12").
    while (i < message.size() && (std::isdigit(static_cast<unsigned char>(message[i])) ||
                                  (message.substr(i, 2) == ", " && i + 2 < message.size() &&
                                   std::isdigit(static_cast<unsigned char>(message[i + 2]))))) {
      i += message[i] == ',' ? 2 : 1;
    }
    kind += 'N';
  }
  return kind.substr(0, 90);
}

TEST_CASE("Random topologies: planned plans verify, refusals are INVALID_ARGUMENT",
          "[planner][verifier][property]") {
  std::mt19937_64 rng(kSeed);
  int planned = 0;
  int refused = 0;
  std::map<std::string, int> refusals;
  std::map<std::string, int> planned_by_shape;
  std::map<Mutation, int> caught;
  int mutated_plans = 0;
  for (int n = 0; n < kTopologies; ++n) {
    Generated g = RandomTopology(rng);
    INFO("topology " << n << ": " << Describe(g));
    const absl::StatusOr<SyncPlan> plan = BuildSyncPlan(g.topology);
    if (!plan.ok()) {
      INFO(plan.status().ToString());
      REQUIRE(plan.status().code() == absl::StatusCode::kInvalidArgument);
      REQUIRE_FALSE(plan.status().message().empty());
      ++refused;
      ++refusals[RefusalKind(plan.status().message())];
      continue;
    }
    ++planned;
    ++planned_by_shape[absl::StrCat(plan->tp_num_mapping > 1 ? "two-stage" : "single-stage",
                                    plan->routed_experts.empty() ? "" : " + routed", " ",
                                    CommTypeName(plan->comm_type), ", ",
                                    PlacementName(g.placement))];
    const absl::Status verified = VerifySyncPlan(g.topology, *plan);
    INFO(verified.ToString());
    REQUIRE(verified.ok());

    // Mutation property: every applicable mutation, on a fresh copy, is caught.
    ++mutated_plans;
    for (Mutation mutation : kAllMutations) {
      SyncTopology topology = g.topology;
      SyncPlan broken = *plan;
      const std::optional<Broken> what = Mutate(mutation, rng, topology, broken);
      if (!what.has_value()) continue;
      const absl::Status status = VerifySyncPlan(topology, broken);
      INFO("mutation: " << MutationName(mutation) << ": " << what->description);
      INFO(status.ToString());
      REQUIRE(status.code() == absl::StatusCode::kFailedPrecondition);
      if (what->needle_is_rank) {
        CHECK(MentionsNumber(status.message(), std::stoi(what->needle)));
      } else {
        CHECK(absl::StrContains(status.message(), what->needle));
      }
      ++caught[mutation];
    }
  }

  std::cout << "plan_property_test: " << kTopologies << " random topologies, " << planned
            << " planned (all verified), " << refused << " refused (INVALID_ARGUMENT)\n";
  for (const auto& [shape, count] : planned_by_shape) {
    std::cout << "  planned " << count << ": " << shape << "\n";
  }
  for (const auto& [kind, count] : refusals) {
    std::cout << "  refused " << count << ": " << kind << "\n";
  }
  std::cout << "  mutations of " << mutated_plans << " plans, all caught:";
  for (Mutation mutation : kAllMutations) {
    std::cout << " " << MutationName(mutation) << " " << caught[mutation] << ";";
  }
  std::cout << "\n";

  CHECK(planned + refused == kTopologies);
  CHECK(planned >= 1500);
  CHECK(refused >= 100);
  for (Mutation mutation : kAllMutations) {
    INFO(MutationName(mutation));
    CHECK(caught[mutation] >= 100);
  }
}

}  // namespace
}  // namespace paramsync::planner
