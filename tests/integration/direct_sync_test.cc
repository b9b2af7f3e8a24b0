// End-to-end `direct` syncs on CPU (SyncStrategyKind DIRECT), every rank its
// own process: reshards the ChatLearn plan cannot do (TP 2 -> 3, TP 4 -> 2,
// pipeline stages re-split), routed experts across EP layouts without a
// regroup, and one ChatLearn can do (TP2 -> TP4 colocated), where both
// strategies run on the same ranks and direct must move no more bytes. Every
// sync is validated by digests and every inference rank checks every byte.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "tests/integration/cluster_helpers.h"

namespace paramsync::bench {
namespace {

const char kPreset[] = "reshard-small";

// Agents 0.. for `count` ranks from `first`.
std::vector<int> AgentRange(int first, int count) {
  std::vector<int> out;
  for (int i = 0; i < count; ++i) out.push_back(first + i);
  return out;
}

// Deploys `trainer` and `inference` on as many agents as their ranks, syncs
// versions 1 and 2 with a direct group (HEP with `hep`) and checks that the
// plan and each sync move exactly the destination's bytes, without a regroup.
void SyncDirectly(const ModelDeployment& trainer_model, const ModelDeployment& inference_model,
                  bool hep, const std::string& name) {
  auto cluster = StartCluster(
      static_cast<int>(trainer_model.agents.size() + inference_model.agents.size()), name);
  auto trainer = DeployOrDie(*cluster, trainer_model);
  auto inference = DeployOrDie(*cluster, inference_model);
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  v1::SyncGroupSpec spec = GroupSpec("direct", "trainer", "vllm");
  spec.set_hep(hep);
  spec.set_strategy(v1::SYNC_STRATEGY_KIND_DIRECT);
  CreateGroup(coordinator, spec);
  const int64_t bytes = InferenceBytes(inference_model.preset, inference_model.tp, 1);
  absl::StatusOr<v1::SyncPlan> plan = coordinator.GetPlan("direct");
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  CHECK(plan->strategy() == v1::SYNC_STRATEGY_KIND_DIRECT);
  CHECK(plan->wire_bytes() == bytes);
  CHECK(plan->direct_pairs_size() > 0);
  for (int64_t version : {1, 2}) {
    v1::SyncResponse report =
        SyncAndVerify(coordinator, "direct", trainer, inference, version, bytes);
    CHECK(report.wire_bytes() == bytes);
    CHECK(report.regroup_ms() == 0);  // Routed experts too move straight to their ranks.
  }
}

// Trainer tp x pp on agents 0.., inference tp x pp after them.
void RunDirectSync(int src_tp, int src_pp, int dst_tp, int dst_pp) {
  const int src_ranks = src_tp * src_pp;
  ModelDeployment trainer{"trainer", true, src_tp, 1, 1, AgentRange(0, src_ranks), kPreset};
  trainer.pp = src_pp;
  ModelDeployment inference{"vllm", false, dst_tp, 1, 1, AgentRange(src_ranks, dst_tp * dst_pp),
                            kPreset};
  inference.pp = dst_pp;
  SyncDirectly(trainer, inference, /*hep=*/false,
               absl::StrCat("direct-tp", src_tp, "pp", src_pp, "-tp", dst_tp, "pp", dst_pp));
}

TEST_CASE("Direct TP2 -> TP3: every inference rank gets exactly its rows and columns",
          "[integration][direct]") {
  RunDirectSync(2, 1, 3, 1);
}

TEST_CASE("Direct TP4 -> TP2: each inference rank assembles two trainer shards",
          "[integration][direct]") {
  RunDirectSync(4, 1, 2, 1);
}

TEST_CASE("Direct TP1 PP2 -> TP2 PP1: both pipeline stages feed every inference rank",
          "[integration][direct]") {
  RunDirectSync(1, 2, 2, 1);
}

TEST_CASE("Direct TP1 PP2 -> TP1 PP3: layer ranges re-split", "[integration][direct]") {
  RunDirectSync(1, 2, 1, 3);
}

// A MoE trainer of tp x ep ranks (dp = ep) with stacked routed experts, synced
// into inference TP `dst_tp` holding them in `expert_layout` (the layout a HEP
// group gives it: whole experts when tp*ep match, else TP shards).
void RunDirectMoeSync(int src_tp, int ep, int dst_tp, const std::string& expert_layout) {
  const char preset[] = "moe-hep-small";
  ModelDeployment trainer{"trainer", true, src_tp, ep, 1, AgentRange(0, src_tp * ep), preset};
  trainer.ep = ep;
  ModelDeployment inference{"vllm", false, dst_tp, 1, 1, AgentRange(src_tp * ep, dst_tp), preset};
  inference.expert_layout = expert_layout;
  SyncDirectly(trainer, inference, /*hep=*/true,
               absl::StrCat("direct-moe-tp", src_tp, "ep", ep, "-tp", dst_tp));
}

TEST_CASE("Direct routed experts: TP1 x EP2 -> TP2, each inference rank a block of whole experts",
          "[integration][direct]") {
  RunDirectMoeSync(1, 2, 2, "experts");
}

TEST_CASE("Direct routed experts: TP2 x EP2 -> TP2, every expert split by TP",
          "[integration][direct]") {
  RunDirectMoeSync(2, 2, 2, "tp");
}

TEST_CASE("TP2 -> TP4 colocated: direct and chatlearn both sync exactly, direct with fewer bytes",
          "[integration][direct]") {
  // Two inference models of the same layout on the same agents, ranks 0 and 1
  // of each on the trainer ranks' agents: one synced by each strategy.
  auto cluster = StartCluster(4, "direct-colocated-tp2-tp4");
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 2, 1, 1, {0, 1}, kPreset});
  auto by_chatlearn = DeployOrDie(*cluster, {"vllm", false, 4, 1, 1, {0, 1, 2, 3}, kPreset});
  auto by_direct = DeployOrDie(*cluster, {"vllm_direct", false, 4, 1, 1, {0, 1, 2, 3}, kPreset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, GroupSpec("chatlearn", "trainer", "vllm"));
  v1::SyncGroupSpec direct_spec = GroupSpec("direct", "trainer", "vllm_direct");
  direct_spec.set_strategy(v1::SYNC_STRATEGY_KIND_DIRECT);
  CreateGroup(coordinator, direct_spec);
  const int64_t bytes = InferenceBytes(kPreset, 4, 1);
  for (int64_t version : {1, 2}) {
    const v1::SyncResponse chatlearn =
        SyncAndVerify(coordinator, "chatlearn", trainer, by_chatlearn, version, bytes);
    const v1::SyncResponse direct =
        SyncAndVerify(coordinator, "direct", trainer, by_direct, version, bytes);
    CHECK(direct.wire_bytes() == bytes);
    // ChatLearn sends whole trainer shards in stage 1, then slices in stage 2.
    CHECK(chatlearn.wire_bytes() > direct.wire_bytes());
  }
}

}  // namespace
}  // namespace paramsync::bench
