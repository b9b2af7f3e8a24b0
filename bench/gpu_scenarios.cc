#include "bench/gpu_scenarios.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace paramsync::bench {
namespace {

const std::vector<std::pair<int, int>> kTp2Ceiling = {{0, 2}, {1, 3}};

ModelDeployment Trainer(int tp, int dp, int pp, std::vector<int> gpus) {
  ModelDeployment m{"trainer", true, tp, dp, 1, std::move(gpus)};
  m.pp = pp;
  return m;
}

ModelDeployment Inference(int tp, int replicas, std::vector<int> gpus) {
  return ModelDeployment{"vllm", false, tp, 1, replicas, std::move(gpus)};
}

// Megatron MoE trainer of tp x ep ranks (dp = ep) -> vLLM TP with expert
// parallelism (each rank holds its block of whole experts).
GpuScenario Hep(std::string name, int tp, int ep, std::vector<int> gpus, std::string description) {
  ModelDeployment trainer = Trainer(tp, ep, 1, gpus);
  trainer.ep = ep;
  ModelDeployment inference = Inference(tp * ep, 1, gpus);
  inference.expert_layout = "experts";
  return {std::move(name),       tp * ep, trainer, inference, false, true, kTp2Ceiling, 2,
          std::move(description)};
}

std::vector<GpuScenario> Catalog() {
  const std::vector<int> four = {0, 1, 2, 3};
  const std::vector<int> eight = {0, 1, 2, 3, 4, 5, 6, 7};
  return {
      {"tp2_tp2", 4, Trainer(2, 1, 1, {0, 1}), Inference(2, 1, {2, 3}), false, false, kTp2Ceiling,
       2, "TP2 (GPUs 0,1) -> TP2 (2,3), disaggregated (same bytes)"},
      {"tp2_tp4", 4, Trainer(2, 1, 1, {0, 1}), Inference(4, 1, four), false, false, kTp2Ceiling, 2,
       "TP2 (0,1) -> TP4 (0-3), colocated"},
      {"tp4_tp2", 4, Trainer(4, 1, 1, four), Inference(2, 1, {0, 2}), true, false, kTp2Ceiling, 2,
       "TP4 (0-3) -> TP2 (0,2), colocated"},
      {"tp2_2xtp1",
       4,
       Trainer(2, 1, 1, {0, 1}),
       Inference(1, 2, {2, 3}),
       true,
       false,
       {{0, 2}, {1, 2}, {0, 3}, {1, 3}},
       2,
       "issue 8 (a) at 4 GPUs: TP2 (0,1) -> 2 x TP1 (2, 3), disaggregated (same bytes)"},
      {"tp1pp2dp2_2xtp2", 4, Trainer(1, 2, 2, four), Inference(2, 2, four), false, false,
       kTp2Ceiling, 2, "issue 8 (b) at 4 GPUs: TP1 PP2 DP2 -> 2 x TP2, colocated"},
      Hep("hep_tp2ep2_tp4", 2, 2, four, "issue 8 (c) at 4 GPUs: HEP TP2 x EP2 -> TP4, colocated"),
      {"tp4_2xtp2",
       8,
       Trainer(4, 1, 1, four),
       Inference(2, 2, {4, 5, 6, 7}),
       true,
       false,
       // Each inference rank holds the halves of two trainer ranks.
       {{0, 4}, {1, 4}, {2, 5}, {3, 5}, {0, 6}, {1, 6}, {2, 7}, {3, 7}},
       4,
       "issue 8 (a): TP4 (0-3) -> 2 x TP2 (4,5 and 6,7), disaggregated (same bytes)"},
      {"tp2pp2dp2_2xtp4", 8, Trainer(2, 2, 2, eight), Inference(4, 2, eight), false, false,
       kTp2Ceiling, 2, "issue 8 (b): TP2 PP2 DP2 -> 2 x TP4, colocated"},
      Hep("hep_ep4tp2_tp8", 2, 4, eight, "issue 8 (c): HEP EP4 x TP2 -> TP8, colocated"),
  };
}

}  // namespace

absl::StatusOr<GpuScenario> FindGpuScenario(const std::string& name, const std::string& preset) {
  for (GpuScenario& scenario : Catalog()) {
    if (scenario.name != name) continue;
    scenario.trainer.preset = preset;
    scenario.inference.preset = preset;
    return scenario;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--scenario is '", name, "'; accepted: ", absl::StrJoin(GpuScenarioNames(), ", ")));
}

std::vector<std::string> GpuScenarioNames() {
  std::vector<std::string> names;
  for (const GpuScenario& scenario : Catalog()) names.push_back(scenario.name);
  return names;
}

}  // namespace paramsync::bench
