// The paramsync demo (./scripts/demo.sh): a coordinator, 4 agents and framework
// processes on this machine, all separate processes, syncing a transformer-shaped
// model from a TP2 trainer to inference ranks twice, checking every byte.
//
//   group "tp2_to_tp2": trainer TP2 (agents 0,1) -> 1 inference replica of TP2
//                       (agents 2,3)
//   group "tp2_to_tp4": the same trainer -> 1 inference replica of TP4 (agents
//                       0-3; two-stage, each rank keeps half of a trainer shard)
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_main.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"

ABSL_FLAG(std::string, preset, "transformer-100m", "parameter set: tiny, small, transformer-100m");

namespace paramsync::bench {
namespace {

absl::Status Check(const absl::Status& status, const std::string& what) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

absl::Status SyncAndVerify(client::CoordinatorClient& coordinator, const std::string& group,
                           const std::vector<ChildProcess*>& trainer,
                           const std::vector<ChildProcess*>& inference, int64_t version) {
  absl::StatusOr<std::vector<std::string>> filled =
      LocalCluster::CommandAll(trainer, absl::StrCat("fill ", version));
  if (!filled.ok()) return Check(filled.status(), "trainer fill");
  absl::StatusOr<v1::SyncResponse> report = coordinator.Sync(group);
  if (!report.ok()) return Check(report.status(), absl::StrCat("sync of ", group));
  if (report->version() != version) {
    return absl::InternalError(
        absl::StrCat("sync reported version ", report->version(), ", expected ", version));
  }
  absl::StatusOr<std::vector<std::string>> verified =
      LocalCluster::CommandAll(inference, absl::StrCat("verify ", version));
  if (!verified.ok()) return Check(verified.status(), "byte check");
  absl::StatusOr<std::vector<std::string>> held = LocalCluster::CommandAll(inference, "version");
  if (!held.ok()) return Check(held.status(), "version check");
  for (const std::string& line : *held) {
    if (line != absl::StrCat("ok ", version)) {
      return absl::InternalError(absl::StrCat("an inference rank reports '", line, "'"));
    }
  }
  std::string stages;
  for (const v1::StageReport& stage : report->stages()) {
    absl::StrAppendFormat(&stages, " %s %.1f ms", stage.name(), stage.duration_ms());
  }
  const double mb = report->bytes() / 1e6;
  std::cout << absl::StrFormat(
                   "  %-11s version %lld: %lld tensors, %.1f MB into %zu inference ranks in "
                   "%.1f ms (%.2f GB/s);%s; all bytes verified\n",
                   group, static_cast<long long>(report->version()),
                   static_cast<long long>(report->tensors()), mb, inference.size(),
                   report->duration_ms(), mb / report->duration_ms(), stages)
            << std::flush;
  return absl::OkStatus();
}

absl::Status Run() {
  const std::string work_dir = MakeWorkDir("paramsync-demo");
  std::cout << "starting a coordinator and 4 agents (logs in " << work_dir << ")\n" << std::flush;
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(4, work_dir);
  if (!cluster.ok()) return Check(cluster.status(), "cluster start");
  client::CoordinatorClient coordinator((*cluster)->coordinator_address());

  const std::string preset = absl::GetFlag(FLAGS_preset);
  ModelDeployment trainer{"policy_trainer", true, 2, 1, 1, {0, 1}, preset};
  ModelDeployment tp2{"policy_vllm_tp2", false, 2, 1, 1, {2, 3}, preset};
  ModelDeployment tp4{"policy_vllm_tp4", false, 4, 1, 1, {0, 1, 2, 3}, preset};
  std::vector<std::vector<ChildProcess*>> ranks;
  for (const ModelDeployment* model : {&trainer, &tp2, &tp4}) {
    absl::StatusOr<std::vector<ChildProcess*>> deployed = (*cluster)->Deploy(*model);
    if (!deployed.ok()) return Check(deployed.status(), absl::StrCat("deploy ", model->model));
    ranks.push_back(*std::move(deployed));
  }
  std::cout << "registered trainer (TP2), inference TP2 and TP4 ranks, preset " << preset << "\n"
            << std::flush;
  for (auto [group, dst] : {std::pair{"tp2_to_tp2", &tp2}, std::pair{"tp2_to_tp4", &tp4}}) {
    v1::SyncGroupSpec spec;
    spec.set_name(group);
    spec.set_src_model(trainer.model);
    spec.set_dst_model(dst->model);
    spec.set_comm_type(v1::COMM_TYPE_BROADCAST);
    absl::Status created = coordinator.CreateSyncGroup(spec);
    if (!created.ok()) return Check(created, absl::StrCat("create group ", group));
  }
  for (int64_t version : {1, 2}) {
    std::cout << "sync round " << version << " (trainer writes new weights first)\n";
    absl::Status status = SyncAndVerify(coordinator, "tp2_to_tp2", ranks[0], ranks[1], version);
    if (!status.ok()) return status;
    status = SyncAndVerify(coordinator, "tp2_to_tp4", ranks[0], ranks[2], version);
    if (!status.ok()) return status;
  }
  std::cout << "demo passed: 2 groups x 2 versions, every inference byte equal to the "
               "trainer's\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace paramsync::bench

int main(int argc, char** argv) {
  return paramsync::bench::RunMain(argc, argv, "demo", paramsync::bench::Run);
}
