// The seed's refusals and fallbacks, decided from parallel sizes alone (no
// endpoints), through ChooseSyncStrategy() and BuildSyncPlan().
#include "coordinator/planner/sync_strategy.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "coordinator/planner/plan_builder.h"

namespace paramsync::planner {
namespace {

SyncTopology Sizes(ModelParallelism src, ModelParallelism dst, bool hep = false,
                   bool colocated = true, CommType comm_type = CommType::kBroadcast) {
  SyncTopology t;
  t.group_name = "sync";
  t.comm_type = comm_type;
  t.hep = hep;
  t.colocated = colocated;
  t.src = std::move(src);
  t.dst = std::move(dst);
  return t;
}

ModelParallelism Trainer(int tp, int pp, int ep, int dp) {
  return ModelParallelism{"megatron", tp, pp, ep, dp, 1};
}
ModelParallelism Vllm(int tp, int pp, int replicas) {
  return ModelParallelism{"vllm", tp, pp, 1, 1, replicas};
}
ModelParallelism MegatronInference(int tp, int pp, int ep, int replicas) {
  return ModelParallelism{"megatron", tp, pp, ep, 1, replicas};
}

struct Refusal {
  std::string name;
  SyncTopology topology;
  std::vector<std::string> message_parts;
};

TEST_CASE("Topologies the seed cannot sync are refused by their sizes", "[planner][strategy]") {
  const std::vector<Refusal> refusals = {
      {"dst tp smaller than src tp",
       Sizes(Trainer(4, 1, 1, 1), Vllm(2, 1, 1)),
       {"dst.tp is 2", "src.tp 4", "4, 8, 12"}},
      {"dst tp not a multiple (seed drops ranks)",
       Sizes(Trainer(2, 1, 1, 3), Vllm(3, 1, 2)),
       {"dst.tp is 3", "src.tp 2"}},
      {"dst pp does not divide src pp",
       Sizes(Trainer(1, 2, 1, 2), Vllm(1, 4, 1)),
       {"dst.pp is 4", "src.pp 2", "accepted: 1, 2"}},
      {"hep: dst ep larger",
       Sizes(Trainer(1, 1, 2, 4), MegatronInference(1, 1, 4, 1), true),
       {"dst.ep is 4", "src.ep 2"}},
      {"hep: megatron with different tp*ep",
       Sizes(Trainer(1, 1, 4, 4), MegatronInference(2, 1, 1, 1), true),
       {"dst.tp*dst.ep is 2*1 = 2", "src.tp*src.ep is 1*4 = 4"}},
      {"hep: expert group not a multiple of the replica",
       Sizes(Trainer(1, 1, 2, 4), Vllm(4, 1, 1), true),
       {"src.pp*src.tp*src.ep is 1*1*2 = 2", "4 ranks of a vllm replica"}},
      {"two-stage into an EP replica",
       Sizes(Trainer(2, 1, 1, 2), MegatronInference(4, 1, 2, 1)),
       {"dst.ep is 2", "dst.tp 4 > src.tp 2"}},
      {"p2p two-stage",
       Sizes(Trainer(2, 1, 1, 2), Vllm(4, 1, 1), false, false, CommType::kP2P),
       {"comm_type is p2p", "accepted: broadcast"}},
  };
  for (const Refusal& refusal : refusals) {
    DYNAMIC_SECTION(refusal.name) {
      const absl::Status status = ChooseSyncStrategy(refusal.topology).status();
      CHECK(status.code() == absl::StatusCode::kInvalidArgument);
      for (const std::string& part : refusal.message_parts) {
        CHECK_THAT(std::string(status.message()), Catch::Contains(part));
      }
      // No endpoints needed to refuse.
      CHECK(BuildSyncPlan(refusal.topology).status() == status);
    }
  }
}

TEST_CASE("A plannable topology without endpoints asks for them", "[planner][strategy]") {
  const absl::Status status = BuildSyncPlan(Sizes(Trainer(2, 1, 1, 2), Vllm(2, 1, 2))).status();
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Catch::Contains("endpoints is empty"));
}

TEST_CASE("Comm type fallbacks follow the seed", "[planner][strategy]") {
  SECTION("colocated, both TP odd, single stage: p2p") {
    const absl::StatusOr<SyncStrategy> s =
        ChooseSyncStrategy(Sizes(Trainer(3, 1, 1, 2), Vllm(3, 1, 2)));
    REQUIRE(s.ok());
    CHECK(s->comm_type == CommType::kP2P);
    CHECK(s->weights == WeightMapping::kEqualTp);
    CHECK(s->reverse_src_groups);
  }
  SECTION("separate GPUs keep broadcast") {
    const absl::StatusOr<SyncStrategy> s =
        ChooseSyncStrategy(Sizes(Trainer(3, 1, 1, 2), Vllm(3, 1, 2), false, false));
    REQUIRE(s.ok());
    CHECK(s->comm_type == CommType::kBroadcast);
    CHECK_FALSE(s->reverse_src_groups);
  }
  SECTION("colocated odd TP two-stage keeps broadcast (the seed would refuse its own p2p)") {
    const absl::StatusOr<SyncStrategy> s =
        ChooseSyncStrategy(Sizes(Trainer(1, 1, 1, 6), Vllm(3, 1, 2)));
    REQUIRE(s.ok());
    CHECK(s->comm_type == CommType::kBroadcast);
    CHECK(s->weights == WeightMapping::kTwoStage);
    CHECK(s->tp_num_mapping == 3);
  }
  SECTION("alltoall needs equal tp*ep") {
    SyncTopology t = Sizes(Trainer(2, 1, 1, 2), Vllm(4, 1, 1));
    t.regroup_comm_type = RegroupCommType::kAllToAll;
    const absl::StatusOr<SyncStrategy> s = ChooseSyncStrategy(t);
    REQUIRE(s.ok());
    CHECK(s->regroup_comm_type == RegroupCommType::kAllGather);
  }
}

TEST_CASE("HEP picks the seed's mappings", "[planner][strategy]") {
  struct Expected {
    std::string name;
    SyncTopology topology;
    WeightMapping weights;
    RoutedExpertMapping routed;
    std::string param_group;
  };
  const std::vector<Expected> cases = {
      {"vllm, equal tp and ep", Sizes(Trainer(2, 1, 1, 1), Vllm(2, 1, 2), true),
       WeightMapping::kEqualTp, RoutedExpertMapping::kNone, "default"},
      {"vllm, equal tp, ep shrinks", Sizes(Trainer(1, 1, 2, 2), Vllm(1, 1, 2), true),
       WeightMapping::kExpertEqualTp, RoutedExpertMapping::kNone, "default"},
      {"vllm, tp grows, equal tp*ep", Sizes(Trainer(1, 1, 4, 4), Vllm(4, 1, 1), true),
       WeightMapping::kTwoStage, RoutedExpertMapping::kExpert, "except_routed"},
      {"vllm, tp grows, tp*ep differs", Sizes(Trainer(1, 1, 4, 4), Vllm(2, 1, 2), true),
       WeightMapping::kTwoStage, RoutedExpertMapping::kRegroupOnly, "except_routed"},
      {"megatron, equal tp*ep", Sizes(Trainer(1, 1, 2, 2), MegatronInference(2, 1, 1, 1), true),
       WeightMapping::kTwoStage, RoutedExpertMapping::kEqualTp, "except_routed"},
  };
  for (const Expected& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const absl::StatusOr<SyncStrategy> s = ChooseSyncStrategy(c.topology);
      REQUIRE(s.ok());
      CHECK(s->weights == c.weights);
      CHECK(s->routed_experts == c.routed);
      CHECK(WeightParamGroup(*s) == c.param_group);
      CHECK(s->regroup_in_trainer == (c.topology.dst.engine == "vllm"));
    }
  }
}

}  // namespace
}  // namespace paramsync::planner
