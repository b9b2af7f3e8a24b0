// File: bench/gpu_scenarios.h
// -----------------------------------------------------------------------------
// The deployments bench/gpu_sync_bench times, by name: which GPUs the trainer
// and inference ranks sit on, which strategy and group kind they need, and the
// GPU pairs of the flat-broadcast baseline each is measured against. Issue 4's
// 4-GPU cases, issue 8's scenarios scaled to 4 GPUs and at their full 8-GPU
// width (bench/run_gpu_table.sh runs them as one table).
#ifndef PARAMSYNC_BENCH_GPU_SCENARIOS_H_
#define PARAMSYNC_BENCH_GPU_SCENARIOS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/local_cluster.h"

namespace paramsync::bench {

struct GpuScenario {
  std::string name;
  int gpus = 4;  // One agent on each of cuda:0 .. cuda:(gpus - 1).
  ModelDeployment trainer;
  ModelDeployment inference;
  bool direct_only = false;  // TP shrinks: only the direct strategy plans it.
  bool hep = false;          // MoE with stacked routed experts: a HEP group.
  // The baseline: one ncclBroadcast of a flat buffer as large as one TP
  // `flat_shard_tp` shard from GPU first to GPU second of every pair, all at
  // once. For scenarios marked "(same bytes)" in their description these are
  // the pairs and bytes the sync moves; the others report against the TP2 -> TP2
  // ceiling.
  std::vector<std::pair<int, int>> flat_pairs;
  int flat_shard_tp = 2;
  std::string description;
};

// The scenario `name` with `preset` as both models' parameter set;
// INVALID_ARGUMENT naming the accepted names otherwise.
absl::StatusOr<GpuScenario> FindGpuScenario(const std::string& name, const std::string& preset);

// Every scenario name, in catalog order.
std::vector<std::string> GpuScenarioNames();

}  // namespace paramsync::bench

#endif  // PARAMSYNC_BENCH_GPU_SCENARIOS_H_
