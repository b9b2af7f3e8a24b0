// End-to-end HEP (hyper expert parallel) syncs on CPU, every rank its own
// process: trainer ranks regroup stacked routed experts among themselves, then
// every inference rank checks every byte of what it holds, in the layout its
// sync group gives it.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "tests/integration/cluster_helpers.h"

namespace paramsync::bench {
namespace {

const char kPreset[] = "moe-hep-small";

// A trainer of tp x ep (dp = ep) on agents 0.., inference TP `dst_tp` on the
// agents after them; syncs versions 1 and 2 and checks the plan's regroup.
void RunHepSync(int src_tp, int ep, int dst_tp, const std::string& expert_layout,
                v1::RegroupCommType requested, v1::RegroupCommType expected,
                int64_t staging_budget = 0) {
  const int src_ranks = src_tp * ep;
  auto cluster =
      StartCluster(src_ranks + dst_tp, absl::StrCat("hep-tp", src_tp, "-ep", ep, "-tp", dst_tp));
  std::vector<int> src_agents, dst_agents;
  for (int i = 0; i < src_ranks; ++i) src_agents.push_back(i);
  for (int i = 0; i < dst_tp; ++i) dst_agents.push_back(src_ranks + i);
  ModelDeployment trainer_model{"trainer", true, src_tp, ep, 1, src_agents, kPreset};
  trainer_model.ep = ep;
  ModelDeployment inference_model{"vllm", false, dst_tp, 1, 1, dst_agents, kPreset};
  inference_model.expert_layout = expert_layout;
  auto trainer = DeployOrDie(*cluster, trainer_model);
  auto inference = DeployOrDie(*cluster, inference_model);
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  v1::SyncGroupSpec spec = HepGroupSpec("hep", "trainer", "vllm", requested);
  spec.set_staging_budget_bytes(staging_budget);
  CreateGroup(coordinator, spec);
  absl::StatusOr<v1::SyncPlan> plan = coordinator.GetPlan("hep");
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  CHECK(plan->regroup_comm_type() == expected);
  REQUIRE(plan->regroup_groups_size() == 1);
  CHECK(plan->regroup_groups(0).ranks_size() == src_ranks);
  for (int64_t version : {1, 2}) {
    v1::SyncResponse report = SyncAndVerify(coordinator, "hep", trainer, inference, version,
                                            InferenceBytes(kPreset, dst_tp, 1));
    CHECK(report.waves() >= 1);
    if (staging_budget > 0) CHECK(report.waves() > 2);
  }
}

TEST_CASE("HEP TP2 x EP2 -> TP4: all-to-all gives each rank a block of whole experts",
          "[integration][hep]") {
  RunHepSync(2, 2, 4, "experts", v1::REGROUP_COMM_TYPE_ALLTOALL, v1::REGROUP_COMM_TYPE_ALLTOALL);
}

TEST_CASE("HEP TP2 x EP2 -> TP4: all-gather regroups to the same layout", "[integration][hep]") {
  RunHepSync(2, 2, 4, "experts", v1::REGROUP_COMM_TYPE_ALLGATHER, v1::REGROUP_COMM_TYPE_ALLGATHER);
}

TEST_CASE("HEP TP2 x EP2 -> TP4 all-to-all in staging waves of 16 KB", "[integration][hep]") {
  RunHepSync(2, 2, 4, "experts", v1::REGROUP_COMM_TYPE_ALLTOALL, v1::REGROUP_COMM_TYPE_ALLTOALL,
             16 << 10);
}

TEST_CASE("HEP TP1 x EP2 -> TP2: routed experts one to one, the rest in two stages",
          "[integration][hep]") {
  RunHepSync(1, 2, 2, "experts", v1::REGROUP_COMM_TYPE_ALLTOALL, v1::REGROUP_COMM_TYPE_ALLTOALL);
}

TEST_CASE("HEP TP1 x EP4 -> TP2: unequal TP x EP falls back to all-gather, experts split by TP",
          "[integration][hep]") {
  RunHepSync(1, 4, 2, "tp", v1::REGROUP_COMM_TYPE_ALLTOALL, v1::REGROUP_COMM_TYPE_ALLGATHER);
}

TEST_CASE("HEP with an inference layout that does not match the group's is refused",
          "[integration][hep]") {
  // TP x EP match, so inference must hold whole experts; it registered TP shards.
  auto cluster = StartCluster(4, "hep-mismatch");
  ModelDeployment trainer_model{"trainer", true, 1, 2, 1, {0, 1}, kPreset};
  trainer_model.ep = 2;
  ModelDeployment inference_model{"vllm", false, 2, 1, 1, {2, 3}, kPreset};
  inference_model.expert_layout = "tp";
  DeployOrDie(*cluster, trainer_model);
  DeployOrDie(*cluster, inference_model);
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, HepGroupSpec("hep", "trainer", "vllm", v1::REGROUP_COMM_TYPE_ALLTOALL));
  absl::StatusOr<v1::SyncResponse> report = coordinator.Sync("hep");
  CHECK(report.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(report.status().message().find("mlp.experts.linear_fc1.weight") != std::string::npos);
}

}  // namespace
}  // namespace paramsync::bench
