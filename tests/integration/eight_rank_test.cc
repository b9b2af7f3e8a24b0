// Issue 8's eight-GPU scenarios at full width on eight CPU agents (the same
// plans, collective groups and regroups; host memory and the host transport
// instead of GPUs and NCCL), every rank its own process, every received byte
// checked. Scenario (a), trainer TP4 -> TP2 replicas, shrinks TP, which
// ChatLearn's plans cannot do: it runs with the `direct` strategy.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "tests/integration/cluster_helpers.h"

namespace paramsync::bench {
namespace {

const std::vector<int> kAllAgents = {0, 1, 2, 3, 4, 5, 6, 7};

TEST_CASE("8 ranks (a): trainer TP4 -> 2 inference replicas of TP2, disaggregated, direct",
          "[integration][eight][direct]") {
  auto cluster = StartCluster(8, "tp4-2xtp2");
  const std::string preset = "small";
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 4, 1, 1, {0, 1, 2, 3}, preset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 2, 1, 2, {4, 5, 6, 7}, preset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  v1::SyncGroupSpec spec = GroupSpec("disaggregated", "trainer", "vllm");
  spec.set_strategy(v1::SYNC_STRATEGY_KIND_DIRECT);
  CreateGroup(coordinator, spec);
  const int64_t bytes = InferenceBytes(preset, 2, 2);
  absl::StatusOr<v1::SyncPlan> plan = coordinator.GetPlan("disaggregated");
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  CHECK(plan->strategy() == v1::SYNC_STRATEGY_KIND_DIRECT);
  // Each inference rank assembles its half from the two trainer ranks that hold it.
  CHECK(plan->direct_pairs_size() == 8);
  for (int64_t version : {1, 2}) {
    const v1::SyncResponse report =
        SyncAndVerify(coordinator, "disaggregated", trainer, inference, version, bytes);
    CHECK(report.wire_bytes() == bytes);
  }
}

TEST_CASE("8 ranks (b): colocated trainer TP2 PP2 DP2 -> 2 inference replicas of TP4",
          "[integration][eight]") {
  auto cluster = StartCluster(8, "tp2pp2dp2-2xtp4");
  const std::string preset = "small";
  ModelDeployment trainer_model{"trainer", true, 2, 2, 1, kAllAgents, preset};
  trainer_model.pp = 2;
  auto trainer = DeployOrDie(*cluster, trainer_model);
  auto inference = DeployOrDie(*cluster, {"vllm", false, 4, 1, 2, kAllAgents, preset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, "colocated_pp", "trainer", "vllm");
  absl::StatusOr<v1::SyncPlan> plan = coordinator.GetPlan("colocated_pp");
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  CHECK(plan->tp_num_mapping() == 2);
  CHECK(plan->stage2_size() > 0);
  for (int64_t version : {1, 2}) {
    SyncAndVerify(coordinator, "colocated_pp", trainer, inference, version,
                  InferenceBytes(preset, 4, 2));
  }
}

TEST_CASE("8 ranks (c): HEP trainer EP4 x TP2 -> TP8, all-to-all and all-gather regroups",
          "[integration][eight][hep]") {
  auto cluster = StartCluster(8, "hep-ep4tp2-tp8");
  const std::string preset = "moe-hep-small";
  ModelDeployment trainer_model{"trainer", true, 2, 4, 1, kAllAgents, preset};
  trainer_model.ep = 4;
  ModelDeployment inference_model{"vllm", false, 8, 1, 1, kAllAgents, preset};
  inference_model.expert_layout = "experts";
  auto trainer = DeployOrDie(*cluster, trainer_model);
  auto inference = DeployOrDie(*cluster, inference_model);
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  int64_t version = 0;
  for (v1::RegroupCommType regroup :
       {v1::REGROUP_COMM_TYPE_ALLTOALL, v1::REGROUP_COMM_TYPE_ALLGATHER}) {
    const std::string name = absl::StrCat("hep_", v1::RegroupCommType_Name(regroup));
    CreateGroup(coordinator, HepGroupSpec(name, "trainer", "vllm", regroup));
    absl::StatusOr<v1::SyncPlan> plan = coordinator.GetPlan(name);
    INFO(plan.status().ToString());
    REQUIRE(plan.ok());
    CHECK(plan->regroup_comm_type() == regroup);
    CHECK(plan->routed_experts_size() == 8);
    // Versions count per group; the trainer's weights differ from what the
    // inference ranks hold, so every byte is written again.
    for (int64_t group_version : {1, 2}) {
      ++version;
      REQUIRE(LocalCluster::CommandAll(trainer, absl::StrCat("fill ", version)).ok());
      absl::StatusOr<v1::SyncResponse> report = coordinator.Sync(name);
      INFO(report.status().ToString());
      REQUIRE(report.ok());
      CHECK(report->version() == group_version);
      CHECK(report->bytes() == InferenceBytes(preset, 8, 1));
      absl::StatusOr<std::vector<std::string>> verified =
          LocalCluster::CommandAll(inference, absl::StrCat("verify ", version));
      INFO(verified.status().ToString());
      CHECK(verified.ok());
    }
  }
}

}  // namespace
}  // namespace paramsync::bench
