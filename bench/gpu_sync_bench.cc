// gpu_sync_bench: a full Sync through coordinator and agents against the
// practical ceiling, on one host's GPUs (issue: Sync <= 1.10 x a flat NCCL
// broadcast of the same bytes between the same GPU pairs).
//
//   gpu_sync_bench --preset=qwen2.5-7b --scenario=tp2_tp2 --syncs=20
//
// Scenarios (bench/gpu_scenarios.h), on 4 GPUs: tp2_tp2 (trainer TP2 on GPUs
// 0,1 -> inference TP2 on 2,3), tp2_tp4 (trainer TP2 on 0,1 -> inference TP4 on
// 0-3, colocated; two stages with chatlearn), tp4_tp2 (trainer TP4 on 0-3 ->
// inference TP2 on 0 and 2, colocated; direct only: chatlearn cannot shrink
// TP) and issue 8's scenarios scaled to 4 GPUs (tp2_2xtp1, direct only;
// tp1pp2dp2_2xtp2; hep_tp2ep2_tp4); on 8 GPUs issue 8's at full width
// (tp4_2xtp2, direct only; tp2pp2dp2_2xtp4; hep_ep4tp2_tp8). --strategy picks
// the group's plan: chatlearn (default) or direct (SyncStrategyKind DIRECT: each
// inference rank receives exactly its bytes, one grouped exchange); --regroup
// the HEP scenarios' regroup collective. In the same run it measures, between
// the scenario's GPU pairs at once (0->2, 1->3 unless the scenario names the
// pairs its sync uses), one ncclBroadcast of a flat buffer as large as one
// shard: the baseline every ratio is printed against. The last line ("row
// ...", tab-separated) is what bench/run_gpu_table.sh collects into its table.
// Bytes are checked after the first
// sync. --dump_shapes prints the per-rank TP2 shard shapes as JSON and exits.
// --torch_baseline=PATH (bench/torch_broadcast_baseline.py; needs python3 with
// torch) also measures, after the flat broadcast and in the same run, what
// Python RL frameworks do: a per-tensor torch.distributed.broadcast loop over
// the same shapes (written as JSON to the work dir) between GPUs 0->2 and 1->3,
// printed as a third table line with the Sync's speed-up over it. It runs as a
// child process bounded to 300 s; when it cannot run (python3 or torch missing,
// fewer than 4 GPUs, a failure, or a scenario whose flat pairs are not 0->2,
// 1->3 of TP2 shards) a line says why and the bench goes on.
// --validate also times as many validated syncs (SyncRequest.validate: every
// tensor digested on its GPU, source and destination, before the commit) and
// prints what validation adds.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bench/bench_main.h"
#include "bench/gpu_scenarios.h"
#include "bench/local_cluster.h"
#include "bench/model_layout.h"
#include "bench/torch_loop_baseline.h"
#include "client/coordinator_client.h"
#include "common/dtype.h"

ABSL_FLAG(std::string, preset, "qwen2.5-7b", "parameter set (bench/model_layout.h)");
ABSL_FLAG(std::string, scenario, "tp2_tp2",
          "tp2_tp2, tp2_tp4, tp4_tp2, tp2_2xtp1, tp1pp2dp2_2xtp2, hep_tp2ep2_tp4 (4 GPUs); "
          "tp4_2xtp2, tp2pp2dp2_2xtp4, hep_ep4tp2_tp8 (8 GPUs): bench/gpu_scenarios.cc");
ABSL_FLAG(std::string, regroup, "alltoall",
          "HEP scenarios' routed-expert regroup: alltoall or allgather");
ABSL_FLAG(std::string, strategy, "chatlearn", "the group's plan: chatlearn or direct");
ABSL_FLAG(int, syncs, 20, "timed syncs after the first (checked) one (their median is reported)");
ABSL_FLAG(bool, dump_shapes, false, "print the TP2 shard shapes as JSON and exit");
ABSL_FLAG(int64_t, staging_budget_bytes, 0,
          "the group's staging budget (SyncGroupSpec.staging_budget_bytes; 0: default)");
ABSL_FLAG(bool, validate, false,
          "also time validated syncs and print the validation overhead (ms and % of a sync)");
ABSL_FLAG(std::string, torch_baseline, "",
          "path of bench/torch_broadcast_baseline.py: also time a per-tensor "
          "torch.distributed.broadcast loop over the TP2 shard (python3 with torch, GPUs 0->2 and "
          "1->3); empty: skip");

namespace paramsync::bench {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

uint64_t ShardBytes(const std::vector<ParameterLayout>& parameters, int tp) {
  uint64_t bytes = 0;
  for (const ParameterLayout& p : parameters) {
    uint64_t n = DTypeSize(p.dtype);
    for (int64_t d : ShardShape(p, RankLayout{tp, 0})) n *= d;
    bytes += n;
  }
  return bytes;
}

// One ncclBroadcast of `bytes` from GPU src[i] to GPU dst[i], all pairs at once,
// each pair its own 2-rank communicator; median milliseconds of `runs`.
absl::StatusOr<double> FlatBroadcastMs(const std::vector<std::pair<int, int>>& pairs,
                                       uint64_t bytes, int runs) {
  std::vector<ncclComm_t> comms(2 * pairs.size());
  std::vector<void*> buffers(2 * pairs.size());
  std::vector<cudaStream_t> streams(2 * pairs.size());
  for (size_t p = 0; p < pairs.size(); ++p) {
    int devices[2] = {pairs[p].first, pairs[p].second};
    if (ncclCommInitAll(&comms[2 * p], 2, devices) != ncclSuccess) {
      return absl::InternalError("ncclCommInitAll failed");
    }
    for (int r = 0; r < 2; ++r) {
      cudaSetDevice(devices[r]);
      if (cudaMalloc(&buffers[2 * p + r], bytes) != cudaSuccess) {
        return absl::ResourceExhaustedError("cudaMalloc of the flat buffer failed");
      }
      cudaStreamCreate(&streams[2 * p + r]);
    }
  }
  std::vector<double> times;
  for (int run = 0; run < runs + 1; ++run) {
    for (size_t i = 0; i < comms.size(); ++i) cudaStreamSynchronize(streams[i]);
    const absl::Time start = absl::Now();
    ncclGroupStart();
    for (size_t i = 0; i < comms.size(); ++i) {
      ncclBroadcast(buffers[i], buffers[i], bytes, ncclUint8, 0, comms[i], streams[i]);
    }
    ncclGroupEnd();
    for (size_t i = 0; i < comms.size(); ++i) cudaStreamSynchronize(streams[i]);
    if (run > 0) times.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  for (size_t i = 0; i < comms.size(); ++i) {
    ncclCommDestroy(comms[i]);
    cudaFree(buffers[i]);
    cudaStreamDestroy(streams[i]);
  }
  return Median(times);
}

// The most GPU memory any of `pids` uses, in MiB, as nvidia-smi reports it
// (-1 when it cannot tell).
int MaxGpuMemoryMiB(const std::vector<pid_t>& pids) {
  FILE* out = popen("nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader", "r");
  if (out == nullptr) return -1;
  int most = -1;
  char line[256];
  while (fgets(line, sizeof(line), out) != nullptr) {
    int pid = 0, mib = 0;
    if (sscanf(line, "%d, %d", &pid, &mib) == 2 &&
        std::find(pids.begin(), pids.end(), pid) != pids.end()) {
      most = std::max(most, mib);
    }
  }
  pclose(out);
  return most;
}

absl::Status Run() {
  const std::string preset = absl::GetFlag(FLAGS_preset);
  absl::StatusOr<ModelShape> shape = ModelPreset(preset);
  if (!shape.ok()) return shape.status();
  const std::vector<ParameterLayout> parameters = TransformerParameters(*shape);
  if (absl::GetFlag(FLAGS_dump_shapes)) {
    std::cout << ShardShapesJson(parameters);
    return absl::OkStatus();
  }
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  const std::string strategy = absl::GetFlag(FLAGS_strategy);
  if (strategy != "chatlearn" && strategy != "direct") {
    return absl::InvalidArgumentError(
        absl::StrCat("--strategy is '", strategy, "'; accepted: chatlearn, direct"));
  }
  absl::StatusOr<GpuScenario> found = FindGpuScenario(scenario, preset);
  if (!found.ok()) return found.status();
  const GpuScenario& setup = *found;
  if (setup.direct_only && strategy != "direct") {
    return absl::InvalidArgumentError(
        absl::StrCat("--scenario=", scenario, " shrinks TP, which only --strategy=direct plans"));
  }
  const std::string regroup = absl::GetFlag(FLAGS_regroup);
  if (regroup != "alltoall" && regroup != "allgather") {
    return absl::InvalidArgumentError(
        absl::StrCat("--regroup is '", regroup, "'; accepted: alltoall, allgather"));
  }
  const uint64_t shard_bytes = ShardBytes(parameters, setup.flat_shard_tp);
  int nccl_version = 0;
  ncclGetVersion(&nccl_version);
  std::cout << absl::StrFormat(
                   "NCCL %d.%d.%d; preset %s: %zu tensors, %.2f GB per TP%d shard; scenario %s "
                   "(%s), strategy %s%s\n",
                   nccl_version / 10000, nccl_version / 100 % 100, nccl_version % 100, preset,
                   parameters.size(), shard_bytes / 1e9, setup.flat_shard_tp, scenario,
                   setup.description, strategy, setup.hep ? ", regroup " + regroup : "")
            << std::flush;

  std::vector<std::string> devices;
  for (int i = 0; i < setup.gpus; ++i) devices.push_back(absl::StrCat("cuda:", i));
  const std::string work_dir = MakeWorkDir("gpu-bench");
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(devices, work_dir);
  if (!cluster.ok()) return cluster.status();
  absl::StatusOr<std::vector<ChildProcess*>> trainer_ranks = (*cluster)->Deploy(setup.trainer);
  if (!trainer_ranks.ok()) return trainer_ranks.status();
  absl::StatusOr<std::vector<ChildProcess*>> inference_ranks = (*cluster)->Deploy(setup.inference);
  if (!inference_ranks.ok()) return inference_ranks.status();
  client::CoordinatorClient coordinator((*cluster)->coordinator_address());
  v1::SyncGroupSpec spec;
  spec.set_name("bench");
  spec.set_src_model("trainer");
  spec.set_dst_model("vllm");
  spec.set_staging_budget_bytes(absl::GetFlag(FLAGS_staging_budget_bytes));
  if (strategy == "direct") spec.set_strategy(v1::SYNC_STRATEGY_KIND_DIRECT);
  if (setup.hep) {
    spec.set_hep(true);
    spec.set_regroup_comm_type(regroup == "alltoall" ? v1::REGROUP_COMM_TYPE_ALLTOALL
                                                     : v1::REGROUP_COMM_TYPE_ALLGATHER);
  }
  absl::Status created = coordinator.CreateSyncGroup(spec);
  if (!created.ok()) return created;
  absl::StatusOr<std::vector<std::string>> filled =
      LocalCluster::CommandAll(*trainer_ranks, "fill 1");
  if (!filled.ok()) return filled.status();
  std::vector<pid_t> agent_pids;
  for (int i = 0; i < setup.gpus; ++i) agent_pids.push_back((*cluster)->agent(i).pid());
  // Before any communicator exists an agent holds just its CUDA context.
  const int context_mib = MaxGpuMemoryMiB(agent_pids);

  // First sync: creates the communicators; then every byte is checked.
  absl::StatusOr<v1::SyncResponse> first = coordinator.Sync("bench");
  if (!first.ok()) return first.status();
  absl::StatusOr<std::vector<std::string>> verified =
      LocalCluster::CommandAll(*inference_ranks, "verify 1");
  if (!verified.ok()) return verified.status();
  std::cout << absl::StrFormat(
                   "first sync (creates communicators): %.1f ms; all %lld bytes "
                   "verified; %lld bytes moved between ranks\n",
                   first->duration_ms(), static_cast<long long>(first->bytes()),
                   static_cast<long long>(first->wire_bytes()))
            << std::flush;

  std::vector<double> sync_ms, control_ms, commit_ms, outside_round_ms;
  int64_t peak_staging = first->peak_staging_bytes();
  for (int i = 0; i < absl::GetFlag(FLAGS_syncs); ++i) {
    absl::StatusOr<v1::SyncResponse> report = coordinator.Sync("bench");
    if (!report.ok()) return report.status();
    double data_ms = 0;
    for (const v1::StageReport& stage : report->stages()) data_ms += stage.duration_ms();
    sync_ms.push_back(report->duration_ms());
    control_ms.push_back(report->duration_ms() - data_ms);
    commit_ms.push_back(report->commit_round_ms());
    outside_round_ms.push_back(report->duration_ms() - report->transfer_round_ms());
    peak_staging = std::max(peak_staging, report->peak_staging_bytes());
  }
  // After the syncs it also holds its communicators' buffers (staging is freed).
  const int with_nccl_mib = MaxGpuMemoryMiB(agent_pids);
  std::vector<double> validated_ms, validate_round_ms;
  if (absl::GetFlag(FLAGS_validate)) {
    v1::SyncRequest validated;
    validated.set_group("bench");
    validated.set_validate(true);
    for (int i = 0; i < absl::GetFlag(FLAGS_syncs); ++i) {
      absl::StatusOr<v1::SyncResponse> report = coordinator.Sync(validated);
      if (!report.ok()) return report.status();
      validated_ms.push_back(report->duration_ms());
      validate_round_ms.push_back(report->validate_ms());
    }
  }

  absl::StatusOr<double> flat_ms = FlatBroadcastMs(setup.flat_pairs, shard_bytes, 5);
  if (!flat_ms.ok()) return flat_ms.status();
  const double sync = Median(sync_ms);

  // After the flat broadcast, the per-tensor torch.distributed loop
  // (--torch_baseline); the script broadcasts TP2 shards over GPUs 0->2, 1->3.
  const std::string torch_script = absl::GetFlag(FLAGS_torch_baseline);
  std::string torch_lines;
  if (!torch_script.empty()) {
    constexpr char kTorchLabel[] = "per-tensor torch.distributed.broadcast loop";
    std::vector<std::pair<int, int>> pairs = setup.flat_pairs;
    std::sort(pairs.begin(), pairs.end());
    if (pairs != std::vector<std::pair<int, int>>{{0, 2}, {1, 3}} || setup.flat_shard_tp != 2) {
      std::vector<std::string> names;
      for (const auto& [src, dst] : setup.flat_pairs) names.push_back(absl::StrCat(src, "->", dst));
      torch_lines = absl::StrFormat(
          "%s: not measured: the torch baseline applies only to flat pairs 0->2, 1->3 of TP2 "
          "shards (scenario %s: %s of TP%d shards)\n",
          kTorchLabel, scenario, absl::StrJoin(names, ", "), setup.flat_shard_tp);
    } else {
      std::cout << "timing the per-tensor torch.distributed baseline: python3 " << torch_script
                << "\n"
                << std::flush;
      absl::StatusOr<double> loop =
          TorchLoopMs(torch_script, parameters, work_dir, std::max(1, absl::GetFlag(FLAGS_syncs)));
      if (loop.ok()) {
        torch_lines = absl::StrFormat(
            "%-44s %10.2f %12.1f %8.3f\n"
            "paramsync Sync speed-up over the per-tensor torch.distributed.broadcast loop: %.2f x "
            "(loop %.2f ms / Sync %.2f ms)\n",
            kTorchLabel, *loop, shard_bytes / *loop / 1e6, *loop / *flat_ms, *loop / sync, *loop,
            sync);
      } else {
        torch_lines = absl::StrFormat("%s: not measured: %s\n", kTorchLabel,
                                      std::string(loop.status().message()));
      }
    }
  }

  const double staging_mib = peak_staging / double{1 << 20};
  std::cout << absl::StrFormat(
                   "\n%-44s %10s %12s %8s\n"
                   "%-44s %10.2f %12.1f %8s\n"
                   "%-44s %10.2f %12.1f %8.3f\n",
                   "measurement (median)", "ms", "GB/s/pair", "ratio",
                   absl::StrFormat("flat ncclBroadcast, 1 shard, %zu pairs",
                                   setup.flat_pairs.size()),
                   *flat_ms, shard_bytes / *flat_ms / 1e6, "1.000",
                   absl::StrCat("paramsync Sync (", scenario, ", ", strategy, ")"), sync,
                   shard_bytes / sync / 1e6, sync / *flat_ms)
            << torch_lines;
  std::cout << absl::StrFormat(
      "control plane (sync minus agents' stage time) %12s (commit round %.2f ms; coordinator "
      "outside the transfer round %.2f ms)\n"
      "staging waves %d; agent GPU memory (largest agent): CUDA context %d MiB, + NCCL "
      "communicators %d MiB, peak staging %.0f MiB\n"
      "agent GPU memory beyond NCCL's buffers (context + peak staging): %.0f MiB\n",
      // Stages of different agents overlap in time: only a one-stage sync's
      // wall time splits into data and control.
      first->stages_size() > 1 ? std::string("n/a (2 stages)")
                               : absl::StrFormat("%.2f ms", Median(control_ms)),
      Median(commit_ms), Median(outside_round_ms), first->waves(), context_mib,
      with_nccl_mib - context_mib, staging_mib, context_mib + staging_mib);
  if (!validated_ms.empty()) {
    const double validated = Median(validated_ms);
    const double round = Median(validate_round_ms);
    std::cout << absl::StrFormat(
        "%-44s %10.2f %12.1f %8.3f\n"
        "validation: digest round %.2f ms (%.1f %% of the validated sync); overhead over an "
        "unvalidated sync %+.2f ms (%+.1f %%)\n",
        "paramsync Sync, validated", validated, shard_bytes / validated / 1e6, validated / *flat_ms,
        round, 100 * round / validated, validated - sync, 100 * (validated - sync) / sync);
  }
  // One line for bench/run_gpu_table.sh: scenario, preset, strategy (and
  // regroup), bytes written, bytes between ranks, first and median sync ms,
  // flat broadcast ms (pairs x shard), ratio.
  std::cout << absl::StrFormat(
      "row\t%s\t%s\t%s%s\t%.2f GB\t%.2f GB\t%.0f\t%.2f\t%.2f (%zu x %.2f GB)\t%.3f\n", scenario,
      preset, strategy, setup.hep ? "/" + regroup : "", first->bytes() / 1e9,
      first->wire_bytes() / 1e9, first->duration_ms(), sync, *flat_ms, setup.flat_pairs.size(),
      shard_bytes / 1e9, sync / *flat_ms);
  return absl::OkStatus();
}

}  // namespace
}  // namespace paramsync::bench

int main(int argc, char** argv) {
  return paramsync::bench::RunMain(argc, argv, "gpu_sync_bench", paramsync::bench::Run);
}
