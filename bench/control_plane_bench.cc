// control_plane_bench: the fixed cost of one Sync RPC, on CPU agents (no GPU):
// a coordinator, 4 agents and TP2 -> TP2 framework processes holding a "tiny"
// model (a few KB), so a sync's time is nearly all control plane: the
// coordinator's RunTasks and Commit rounds, the agents' task setup and the host
// transport's pushes. Prints percentiles over --syncs syncs (after a first,
// checked one) next to the agents' own stage time.
//
//   control_plane_bench --syncs=200
#include <algorithm>
#include <iostream>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "bench/bench_main.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"

ABSL_FLAG(int, syncs, 200, "timed syncs");
ABSL_FLAG(std::string, preset, "tiny", "parameter set (bench/model_layout.h)");

namespace paramsync::bench {
namespace {

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

absl::Status Run() {
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start(4, MakeWorkDir("control-plane-bench"));
  if (!cluster.ok()) return cluster.status();
  const std::string preset = absl::GetFlag(FLAGS_preset);
  absl::StatusOr<std::vector<ChildProcess*>> trainer =
      (*cluster)->Deploy({"trainer", true, 2, 1, 1, {0, 1}, preset});
  if (!trainer.ok()) return trainer.status();
  absl::StatusOr<std::vector<ChildProcess*>> inference =
      (*cluster)->Deploy({"vllm", false, 2, 1, 1, {2, 3}, preset});
  if (!inference.ok()) return inference.status();
  client::CoordinatorClient coordinator((*cluster)->coordinator_address());
  v1::SyncGroupSpec spec;
  spec.set_name("bench");
  spec.set_src_model("trainer");
  spec.set_dst_model("vllm");
  if (absl::Status created = coordinator.CreateSyncGroup(spec); !created.ok()) return created;
  if (auto filled = LocalCluster::CommandAll(*trainer, "fill 1"); !filled.ok()) {
    return filled.status();
  }
  absl::StatusOr<v1::SyncResponse> first = coordinator.Sync("bench");
  if (!first.ok()) return first.status();
  if (auto verified = LocalCluster::CommandAll(*inference, "verify 1"); !verified.ok()) {
    return verified.status();
  }
  std::vector<double> sync_ms, stage_ms, rpc_ms;
  for (int i = 0; i < absl::GetFlag(FLAGS_syncs); ++i) {
    const absl::Time start = absl::Now();
    absl::StatusOr<v1::SyncResponse> report = coordinator.Sync("bench");
    if (!report.ok()) return report.status();
    rpc_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    sync_ms.push_back(report->duration_ms());
    double stages = 0;
    for (const v1::StageReport& stage : report->stages()) stages += stage.duration_ms();
    stage_ms.push_back(stages);
  }
  std::cout << absl::StrFormat("%-40s %8s %8s %8s\n", "ms (TP2 -> TP2, preset " + preset + ")",
                               "p50", "p90", "p99");
  for (const auto& [name, values] : {std::pair{"Sync RPC seen by the client", &rpc_ms},
                                     std::pair{"Sync inside the coordinator", &sync_ms},
                                     std::pair{"agents' stage time", &stage_ms}}) {
    std::cout << absl::StrFormat("%-40s %8.3f %8.3f %8.3f\n", name, Percentile(*values, 0.5),
                                 Percentile(*values, 0.9), Percentile(*values, 0.99));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace paramsync::bench

int main(int argc, char** argv) {
  return paramsync::bench::RunMain(argc, argv, "control_plane_bench", paramsync::bench::Run);
}
