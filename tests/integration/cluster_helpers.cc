#include "tests/integration/cluster_helpers.h"

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "bench/model_layout.h"

namespace paramsync::bench {

std::unique_ptr<LocalCluster> StartCluster(int agents, const std::string& name) {
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start(agents, MakeWorkDir(name));
  INFO(cluster.status().ToString());
  REQUIRE(cluster.ok());
  return *std::move(cluster);
}

std::vector<ChildProcess*> DeployOrDie(LocalCluster& cluster, const ModelDeployment& model) {
  absl::StatusOr<std::vector<ChildProcess*>> ranks = cluster.Deploy(model);
  INFO(ranks.status().ToString());
  REQUIRE(ranks.ok());
  return *std::move(ranks);
}

v1::SyncGroupSpec GroupSpec(const std::string& name, const std::string& src, const std::string& dst,
                            v1::CommType comm_type) {
  v1::SyncGroupSpec spec;
  spec.set_name(name);
  spec.set_src_model(src);
  spec.set_dst_model(dst);
  spec.set_comm_type(comm_type);
  return spec;
}

v1::SyncGroupSpec HepGroupSpec(const std::string& name, const std::string& src,
                               const std::string& dst, v1::RegroupCommType regroup) {
  v1::SyncGroupSpec spec = GroupSpec(name, src, dst);
  spec.set_hep(true);
  spec.set_regroup_comm_type(regroup);
  return spec;
}

void CreateGroup(client::CoordinatorClient& coordinator, const v1::SyncGroupSpec& spec) {
  absl::Status status = coordinator.CreateSyncGroup(spec);
  INFO(status.ToString());
  REQUIRE(status.ok());
}

void CreateGroup(client::CoordinatorClient& coordinator, const std::string& name,
                 const std::string& src, const std::string& dst, v1::CommType comm_type) {
  CreateGroup(coordinator, GroupSpec(name, src, dst, comm_type));
}

v1::SyncResponse SyncAndVerify(client::CoordinatorClient& coordinator, const std::string& group,
                               const std::vector<ChildProcess*>& trainer,
                               const std::vector<ChildProcess*>& inference, int64_t version,
                               int64_t expected_bytes) {
  absl::StatusOr<std::vector<std::string>> filled =
      LocalCluster::CommandAll(trainer, absl::StrCat("fill ", version));
  INFO(filled.status().ToString());
  REQUIRE(filled.ok());
  // Validated: every destination tensor's digest is checked against its source
  // by the coordinator too, before it commits.
  v1::SyncRequest request;
  request.set_group(group);
  request.set_validate(true);
  absl::StatusOr<v1::SyncResponse> report = coordinator.Sync(request);
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  CHECK(report->validated());
  CHECK(report->version() == version);
  CHECK(report->bytes() == expected_bytes);
  absl::StatusOr<std::vector<std::string>> verified =
      LocalCluster::CommandAll(inference, absl::StrCat("verify ", version));
  INFO(verified.status().ToString());
  REQUIRE(verified.ok());
  absl::StatusOr<std::vector<std::string>> held = LocalCluster::CommandAll(inference, "version");
  REQUIRE(held.ok());
  for (const std::string& line : *held) CHECK(line == absl::StrCat("ok ", version));
  return *report;
}

int64_t ModelBytes(const std::string& preset) {
  int64_t bytes = 0;
  for (const ParameterLayout& p : TransformerParameters(*ModelPreset(preset))) {
    bytes += static_cast<int64_t>(FullBytes(p));
  }
  return bytes;
}

int64_t InferenceBytes(const std::string& preset, int tp, int replicas) {
  int64_t bytes = 0;
  for (const ParameterLayout& p : TransformerParameters(*ModelPreset(preset))) {
    bytes += static_cast<int64_t>(FullBytes(p)) * (p.tp_split_dim.has_value() ? 1 : tp);
  }
  return bytes * replicas;
}

}  // namespace paramsync::bench
