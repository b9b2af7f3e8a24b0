// End-to-end syncs on CPU: a coordinator, agents and framework processes, each a
// separate process talking gRPC on loopback; every received byte is checked by
// the inference processes themselves against the trainer's deterministic values.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/local_cluster.h"
#include "bench/model_layout.h"
#include "client/coordinator_client.h"
#include "tests/integration/cluster_helpers.h"

namespace paramsync::bench {
namespace {

TEST_CASE("TP2 trainer syncs a 100 MB model into 2 TP2 replicas, twice", "[integration]") {
  auto cluster = StartCluster(6, "tp2-tp2");
  const std::string preset = "transformer-100m";
  REQUIRE(ModelBytes(preset) > 90'000'000);
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 2, 1, 1, {0, 1}, preset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 2, 1, 2, {2, 3, 4, 5}, preset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, "tp2_tp2", "trainer", "vllm");
  for (int64_t version : {1, 2}) {
    SyncAndVerify(coordinator, "tp2_tp2", trainer, inference, version,
                  InferenceBytes(preset, 2, 2));
  }
  absl::StatusOr<v1::ListEndpointsResponse> endpoints = coordinator.ListEndpoints("vllm");
  REQUIRE(endpoints.ok());
  REQUIRE(endpoints->endpoints_size() == 4);
  for (const v1::EndpointStatus& e : endpoints->endpoints()) CHECK(e.version() == 2);
}

TEST_CASE("TP2 trainer syncs a 100 MB model into TP4 in two stages, twice", "[integration]") {
  auto cluster = StartCluster(6, "tp2-tp4");
  const std::string preset = "transformer-100m";
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 2, 1, 1, {0, 1}, preset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 4, 1, 1, {2, 3, 4, 5}, preset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, "tp2_tp4", "trainer", "vllm");
  absl::StatusOr<v1::SyncPlan> plan = coordinator.GetPlan("tp2_tp4");
  REQUIRE(plan.ok());
  CHECK(plan->tp_num_mapping() == 2);
  CHECK(plan->stage1_size() == 2);
  CHECK(plan->stage2_size() == 2);
  int64_t unbounded_peak = 0;
  for (int64_t version : {1, 2}) {
    v1::SyncResponse report = SyncAndVerify(coordinator, "tp2_tp4", trainer, inference, version,
                                            InferenceBytes(preset, 4, 1));
    // The ~53 MB shards fit the default budget: one wave.
    CHECK(report.waves() == 1);
    unbounded_peak = report.peak_staging_bytes();
  }
  // A stage-1 receiver stages what it forwards: whole shards, but of large
  // dim-0 shards only the other slice (its own lands in its tensor); while
  // forwarding it also cuts the dim-1 slices it sends.
  int64_t forwarded = 0;
  for (const ParameterLayout& p : TransformerParameters(*ModelPreset(preset))) {
    const int64_t shard = FullBytes(p) / (p.tp_split_dim.has_value() ? 2 : 1);
    if (!p.tp_split_dim.has_value()) {
      forwarded += shard;
    } else if (*p.tp_split_dim == 0) {
      forwarded += shard >= (1 << 20) ? shard / 2 : shard;
    } else {
      forwarded += shard + shard / 2;
    }
  }
  CHECK(unbounded_peak == forwarded);

  // A small budget: waves, and no agent stages more than one of them.
  const int64_t budget = 8 << 20;
  v1::SyncGroupSpec spec = GroupSpec("tp2_tp4_waves", "trainer", "vllm");
  spec.set_staging_budget_bytes(budget);
  CreateGroup(coordinator, spec);
  int64_t largest = 0;  // The largest shard tensor: a wave of its own.
  for (const ParameterLayout& p : TransformerParameters(*ModelPreset(preset))) {
    largest = std::max<int64_t>(largest, FullBytes(p) / (p.tp_split_dim.has_value() ? 2 : 1));
  }
  // Versions count per group; version 1's weights differ from the version 2
  // the inference ranks hold, so the check proves every byte was written again.
  for (int64_t version : {1, 2}) {
    v1::SyncResponse report = SyncAndVerify(coordinator, "tp2_tp4_waves", trainer, inference,
                                            version, InferenceBytes(preset, 4, 1));
    CHECK(report.waves() > 4);
    CHECK(report.peak_staging_bytes() > 0);
    CHECK(report.peak_staging_bytes() <= std::max(budget, largest));
  }
}

TEST_CASE("Colocated TP2 -> TP4 avoids same-device NCCL pairs and moves the right bytes",
          "[integration]") {
  // Inference ranks 0,1 share agents (devices) with the trainer's ranks.
  auto cluster = StartCluster(4, "colocated");
  const std::string preset = "small";
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 2, 1, 1, {0, 1}, preset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 4, 1, 1, {0, 1, 2, 3}, preset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, "colocated", "trainer", "vllm");
  absl::StatusOr<v1::SyncPlan> plan = coordinator.GetPlan("colocated");
  REQUIRE(plan.ok());
  // Sync ranks: trainer 0,1 on agents 0,1; inference 2..5 on agents 0..3.
  for (const v1::RankPair& pair : plan->stage1()) CHECK(pair.dst() != pair.src() + 2);
  for (int64_t version : {1, 2, 3}) {
    SyncAndVerify(coordinator, "colocated", trainer, inference, version,
                  InferenceBytes(preset, 4, 1));
  }
}

TEST_CASE("P2P comm type syncs TP1 into 2 replicas", "[integration]") {
  auto cluster = StartCluster(3, "p2p");
  const std::string preset = "small";
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 1, 1, 1, {0}, preset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 1, 1, 2, {1, 2}, preset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, "p2p", "trainer", "vllm", v1::COMM_TYPE_P2P);
  SyncAndVerify(coordinator, "p2p", trainer, inference, 1, InferenceBytes(preset, 1, 2));
}

TEST_CASE("A dry run moves nothing; a warmed-up sync then moves everything", "[integration]") {
  auto cluster = StartCluster(2, "dry-run");
  const std::string preset = "small";
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 1, 1, 1, {0}, preset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 1, 1, 1, {1}, preset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, "g", "trainer", "vllm");
  REQUIRE(LocalCluster::CommandAll(trainer, "fill 1").ok());
  for (bool warmup : {false, true}) {
    v1::SyncRequest dry;
    dry.set_group("g");
    dry.set_dry_run(true);
    dry.set_warmup(warmup);
    absl::StatusOr<v1::SyncResponse> report = coordinator.Sync(dry);
    INFO(report.status().ToString());
    REQUIRE(report.ok());
    CHECK(report->version() == 0);
    CHECK(report->bytes() == 0);
    // The inference rank still holds its zeros, and version 0.
    absl::StatusOr<std::vector<std::string>> verified =
        LocalCluster::CommandAll(inference, "verify 1");
    CHECK(verified.status().code() == absl::StatusCode::kDataLoss);
    CHECK(*LocalCluster::CommandAll(inference, "version") == std::vector<std::string>{"ok 0"});
  }
  v1::SyncRequest warm;
  warm.set_group("g");
  warm.set_warmup(true);
  absl::StatusOr<v1::SyncResponse> report = coordinator.Sync(warm);
  REQUIRE(report.ok());
  CHECK(report->version() == 1);
  CHECK(LocalCluster::CommandAll(inference, "verify 1").ok());
}

void CheckStatus(const absl::Status& status, absl::StatusCode code, const std::string& needle) {
  INFO(status.ToString());
  CHECK(status.code() == code);
  CHECK(std::string(status.message()).find(needle) != std::string::npos);
}

TEST_CASE("Bad input gets a specific status and the coordinator keeps serving", "[integration]") {
  auto cluster = StartCluster(4, "bad-input");
  const std::string preset = "tiny";
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 1, 1, 1, {0}, preset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 1, 1, 1, {1}, preset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());

  SECTION("duplicate endpoint") {
    absl::StatusOr<std::vector<ChildProcess*>> again =
        cluster->Deploy({"trainer", true, 1, 1, 1, {2}, preset});
    CheckStatus(again.status(), absl::StatusCode::kAlreadyExists, "already registered");
  }
  SECTION("unknown group") {
    CheckStatus(coordinator.Sync("no_such_group").status(), absl::StatusCode::kNotFound,
                "no_such_group");
  }
  SECTION("unknown model") {
    CreateGroup(coordinator, "ghost", "trainer", "ghost_model");
    CheckStatus(coordinator.Sync("ghost").status(), absl::StatusCode::kNotFound, "ghost_model");
  }
  SECTION("mismatched dtype") {
    DeployOrDie(*cluster, {"vllm_dtype", false, 1, 1, 1, {2}, preset, 1, "dtype"});
    CreateGroup(coordinator, "dtype", "trainer", "vllm_dtype");
    CheckStatus(coordinator.Sync("dtype").status(), absl::StatusCode::kFailedPrecondition,
                "dtype mismatch for 'embedding.word_embeddings.weight'");
  }
  SECTION("mismatched shape") {
    DeployOrDie(*cluster, {"vllm_shape", false, 1, 1, 1, {2}, preset, 1, "shape"});
    CreateGroup(coordinator, "shape", "trainer", "vllm_shape");
    CheckStatus(coordinator.Sync("shape").status(), absl::StatusCode::kFailedPrecondition,
                "shape mismatch for 'embedding.word_embeddings.weight'");
  }
  SECTION("a rank missing") {
    ModelDeployment partial{"vllm_partial", false, 2, 1, 1, {2, 3}, preset};
    partial.skip_rank = 1;
    DeployOrDie(*cluster, partial);
    CreateGroup(coordinator, "partial", "trainer", "vllm_partial");
    CheckStatus(coordinator.Sync("partial").status(), absl::StatusCode::kFailedPrecondition,
                "missing ranks: 1");
  }
  SECTION("malformed group specs") {
    v1::SyncGroupSpec spec;
    spec.set_src_model("trainer");
    spec.set_dst_model("vllm");
    CheckStatus(coordinator.CreateSyncGroup(spec), absl::StatusCode::kInvalidArgument,
                "group.name");
    spec.set_name("bad");
    spec.set_comm_type(static_cast<v1::CommType>(9));
    CheckStatus(coordinator.CreateSyncGroup(spec), absl::StatusCode::kInvalidArgument, "comm_type");
    spec.set_dst_model("trainer");
    spec.set_comm_type(v1::COMM_TYPE_BROADCAST);
    CheckStatus(coordinator.CreateSyncGroup(spec), absl::StatusCode::kInvalidArgument,
                "must differ");
  }
  // Whatever was refused above, a valid sync still works.
  CreateGroup(coordinator, "good", "trainer", "vllm");
  SyncAndVerify(coordinator, "good", trainer, inference, 1, InferenceBytes(preset, 1, 1));
}

}  // namespace
}  // namespace paramsync::bench
