// control_plane_bench: the fixed cost of one Sync RPC, on CPU agents (no GPU):
// a coordinator, 4 agents and TP2 -> TP2 framework processes holding a "tiny"
// model (a few KB), so a sync's time is nearly all control plane: the
// coordinator's RunTasks and Commit rounds, the agents' task setup and the host
// transport's pushes. Prints percentiles over --syncs syncs (after a first,
// checked one) next to the agents' own stage time, then the same with every
// sync validated (SyncRequest.validate: digests of every tensor on both sides,
// compared before the commit) and what validation adds.
//
//   control_plane_bench --syncs=200
//   control_plane_bench --syncs=20 --preset=transformer-100m   (validation's data cost)
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

// Milliseconds of each of --syncs syncs of group "bench".
struct TimedSyncs {
  std::vector<double> rpc_ms;       // Seen by the client.
  std::vector<double> sync_ms;      // Inside the coordinator.
  std::vector<double> stage_ms;     // The agents' stages.
  std::vector<double> validate_ms;  // The validation round (validated syncs).
};

absl::StatusOr<TimedSyncs> RunSyncs(client::CoordinatorClient& coordinator, bool validate) {
  v1::SyncRequest request;
  request.set_group("bench");
  request.set_validate(validate);
  TimedSyncs timed;
  for (int i = 0; i < absl::GetFlag(FLAGS_syncs); ++i) {
    const absl::Time start = absl::Now();
    absl::StatusOr<v1::SyncResponse> report = coordinator.Sync(request);
    if (!report.ok()) return report.status();
    timed.rpc_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    timed.sync_ms.push_back(report->duration_ms());
    double stages = 0;
    for (const v1::StageReport& stage : report->stages()) stages += stage.duration_ms();
    timed.stage_ms.push_back(stages);
    timed.validate_ms.push_back(report->validate_ms());
  }
  return timed;
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
  absl::StatusOr<TimedSyncs> plain = RunSyncs(coordinator, /*validate=*/false);
  if (!plain.ok()) return plain.status();
  absl::StatusOr<TimedSyncs> validated = RunSyncs(coordinator, /*validate=*/true);
  if (!validated.ok()) return validated.status();
  std::cout << absl::StrFormat("%-44s %8s %8s %8s\n", "ms (TP2 -> TP2, preset " + preset + ")",
                               "p50", "p90", "p99");
  for (const auto& [name, values] :
       {std::pair{"Sync RPC seen by the client", &plain->rpc_ms},
        std::pair{"Sync inside the coordinator", &plain->sync_ms},
        std::pair{"agents' stage time", &plain->stage_ms},
        std::pair{"validated Sync inside the coordinator", &validated->sync_ms},
        std::pair{"  of which the validation round", &validated->validate_ms}}) {
    std::cout << absl::StrFormat("%-44s %8.3f %8.3f %8.3f\n", name, Percentile(*values, 0.5),
                                 Percentile(*values, 0.9), Percentile(*values, 0.99));
  }
  const double overhead = Percentile(validated->sync_ms, 0.5) - Percentile(plain->sync_ms, 0.5);
  std::cout << absl::StrFormat(
      "validation overhead (p50): %.3f ms, %.1f %% of an unvalidated sync\n", overhead,
      100 * overhead / Percentile(plain->sync_ms, 0.5));
  return absl::OkStatus();
}

}  // namespace
}  // namespace paramsync::bench

int main(int argc, char** argv) {
  return paramsync::bench::RunMain(argc, argv, "control_plane_bench", paramsync::bench::Run);
}
