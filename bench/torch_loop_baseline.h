// File: bench/torch_loop_baseline.h
// -----------------------------------------------------------------------------
// The per-tensor torch.distributed.broadcast loop (what Python RL frameworks
// do), bench/torch_broadcast_baseline.py, run by gpu_sync_bench in the same run
// as the Sync it compares: the shapes go to the script as JSON, its median loop
// time comes back from its last line.
#ifndef PARAMSYNC_BENCH_TORCH_LOOP_BASELINE_H_
#define PARAMSYNC_BENCH_TORCH_LOOP_BASELINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/model_layout.h"

namespace paramsync::bench {

// The TP2 shard shapes of `parameters` as JSON, [["name", [d0, d1, ...]], ...]:
// what gpu_sync_bench --dump_shapes prints and the script reads.
std::string ShardShapesJson(const std::vector<ParameterLayout>& parameters);

// Runs `python3 script shapes.json runs` with the TP2 shard shapes of
// `parameters` written to `work_dir`, bounded by 300 s (then its whole process
// group, the spawned torch workers too, is killed), and returns the median
// loop milliseconds from its last line "torch_loop_ms=<ms>". The error says
// why not, with the script's last output line.
absl::StatusOr<double> TorchLoopMs(const std::string& script,
                                   const std::vector<ParameterLayout>& parameters,
                                   const std::string& work_dir, int runs);

}  // namespace paramsync::bench

#endif  // PARAMSYNC_BENCH_TORCH_LOOP_BASELINE_H_
