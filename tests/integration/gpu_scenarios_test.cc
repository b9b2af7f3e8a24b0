// Every deployment bench/gpu_sync_bench times on GPUs (bench/gpu_scenarios.h),
// the 8-GPU ones too, run first on CPU agents with a small parameter set, so
// that GPU time (an 8-GPU host is rarely lent) is not spent on a scenario that
// cannot plan: each syncs twice with the strategy and group kind it needs,
// every sync validated and every received byte checked.
#include "bench/gpu_scenarios.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "tests/integration/cluster_helpers.h"

namespace paramsync::bench {
namespace {

TEST_CASE("Every GPU benchmark scenario syncs exactly on CPU agents",
          "[integration][gpu_scenarios]") {
  for (const std::string& name : GpuScenarioNames()) {
    DYNAMIC_SECTION(name) {
      absl::StatusOr<GpuScenario> scenario = FindGpuScenario(name, "small");
      REQUIRE(scenario.ok());
      const std::string preset = scenario->hep ? "moe-hep-small" : "small";
      scenario = FindGpuScenario(name, preset);
      REQUIRE(scenario.ok());
      auto cluster = StartCluster(scenario->gpus, absl::StrCat("scenario-", name));
      auto trainer = DeployOrDie(*cluster, scenario->trainer);
      auto inference = DeployOrDie(*cluster, scenario->inference);
      client::CoordinatorClient coordinator(cluster->coordinator_address());
      v1::SyncGroupSpec spec =
          scenario->hep ? HepGroupSpec(name, "trainer", "vllm", v1::REGROUP_COMM_TYPE_ALLTOALL)
                        : GroupSpec(name, "trainer", "vllm");
      if (scenario->direct_only) spec.set_strategy(v1::SYNC_STRATEGY_KIND_DIRECT);
      CreateGroup(coordinator, spec);
      const int64_t bytes =
          InferenceBytes(preset, scenario->inference.tp, scenario->inference.replicas);
      for (int64_t version : {1, 2}) {
        SyncAndVerify(coordinator, name, trainer, inference, version, bytes);
      }
    }
  }
}

}  // namespace
}  // namespace paramsync::bench
