// Validated syncs (SyncRequest.validate) end to end on CPU, every rank its own
// process: the agents digest every destination tensor and its source regions
// where they live, and the coordinator commits only when they match. A test
// hook of the agent (--debug_corrupt_received_bytes_for_test) damages received
// bytes after the transfers, as a faulty link or copy would. (SyncAndVerify
// validates too, so the other integration tests validate every topology they
// sync.)
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "tests/integration/cluster_helpers.h"

namespace paramsync::bench {
namespace {

constexpr char kPreset[] = "small";
constexpr char kDamaged[] = "decoder.layers.1.mlp.linear_fc1.weight";
constexpr char kCorruptFlag[] = "--debug_corrupt_received_bytes_for_test=";

v1::SyncRequest Request(const std::string& group, bool validate) {
  v1::SyncRequest request;
  request.set_group(group);
  request.set_validate(validate);
  return request;
}

TEST_CASE("A group can validate every sync by default; reports say how long it took",
          "[integration][validation]") {
  auto cluster = StartCluster(3, "validate-default");
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 1, 1, 1, {0}, kPreset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 2, 1, 1, {1, 2}, kPreset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  v1::SyncGroupSpec spec = GroupSpec("always", "trainer", "vllm");
  spec.set_validate(true);
  CreateGroup(coordinator, spec);
  CreateGroup(coordinator, "on_request", "trainer", "vllm");
  REQUIRE(LocalCluster::CommandAll(trainer, "fill 1").ok());
  // TP1 -> TP2: two stages, each inference rank validated against its half.
  absl::StatusOr<v1::SyncResponse> always = coordinator.Sync(Request("always", false));
  INFO(always.status().ToString());
  REQUIRE(always.ok());
  CHECK(always->validated());
  CHECK(always->validate_ms() > 0);
  CHECK(always->validate_ms() < always->duration_ms());
  absl::StatusOr<v1::SyncResponse> plain = coordinator.Sync(Request("on_request", false));
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->validated());
  CHECK(plain->validate_ms() == 0);
  CHECK(LocalCluster::CommandAll(inference, "verify 1").ok());
}

TEST_CASE("Damaged bytes fail a validated sync closed, naming the tensor; a clean one then commits",
          "[integration][validation]") {
  auto cluster = StartCluster(3, "validate-damage");
  // vllm rank 1's agent damages what it receives of one tensor.
  cluster->AddAgentFlags(2, {absl::StrCat(kCorruptFlag, kDamaged)});
  REQUIRE(cluster->RestartAgent(2, /*crash=*/false).ok());
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 1, 1, 1, {0}, kPreset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 2, 1, 1, {1, 2}, kPreset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, "g", "trainer", "vllm");
  REQUIRE(LocalCluster::CommandAll(trainer, "fill 1").ok());

  const absl::Time before = absl::Now();
  absl::Status failed = coordinator.Sync(Request("g", true)).status();
  INFO(failed.ToString());
  CHECK(failed.code() == absl::StatusCode::kDataLoss);
  const std::string named = absl::StrCat("vllm rank 1 '", kDamaged, "'");
  CHECK(absl::StrContains(failed.message(), absl::StrCat(": 1 of ")));
  CHECK(absl::StrContains(failed.message(), named));
  CHECK(absl::StrContains(failed.message(), "nothing was committed"));
  // Nothing committed: both ranks keep version 0, as the coordinator sees them too.
  CHECK(*LocalCluster::CommandAll(inference, "version") ==
        std::vector<std::string>{"ok 0", "ok 0"});
  absl::StatusOr<v1::ListEndpointsResponse> endpoints = coordinator.ListEndpoints("vllm");
  REQUIRE(endpoints.ok());
  for (const v1::EndpointStatus& e : endpoints->endpoints()) CHECK(e.version() == 0);
  // The error channel has it, with the group.
  bool published = false;
  absl::Status watched = coordinator.WatchErrors(
      [&](const v1::ErrorEvent& event) {
        published = event.group() == "g" &&
                    event.code() == static_cast<int>(absl::StatusCode::kDataLoss) &&
                    absl::StrContains(event.message(), named);
        return !published;
      },
      absl::Seconds(10), before);
  CHECK(watched.ok());
  CHECK(published);

  // Without validation the same damage commits unnoticed; only the inference
  // process's own check of every byte finds it.
  absl::StatusOr<v1::SyncResponse> unchecked = coordinator.Sync(Request("g", false));
  REQUIRE(unchecked.ok());
  CHECK(inference[0]->Command("verify 1")->rfind("ok", 0) == 0);
  CHECK(absl::StrContains(*inference[1]->Command("verify 1"), kDamaged));

  // The agent back without the hook: the next validated sync commits.
  cluster->AddAgentFlags(2, {kCorruptFlag});
  REQUIRE(cluster->RestartAgent(2, /*crash=*/false).ok());
  REQUIRE(LocalCluster::CommandAll(trainer, "fill 2").ok());
  absl::StatusOr<v1::SyncResponse> clean;
  // Until the framework process registered again with the restarted agent.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  do {
    clean = coordinator.Sync(Request("g", true));
    if (clean.ok() || clean.status().code() != absl::StatusCode::kFailedPrecondition) break;
    absl::SleepFor(absl::Milliseconds(100));
  } while (absl::Now() < deadline);
  INFO(clean.status().ToString());
  REQUIRE(clean.ok());
  CHECK(clean->validated());
  CHECK(clean->version() > unchecked->version());
  CHECK(LocalCluster::CommandAll(inference, "verify 2").ok());
  const std::string held = absl::StrCat("ok ", clean->version());
  CHECK(*LocalCluster::CommandAll(inference, "version") == std::vector<std::string>{held, held});
}

}  // namespace
}  // namespace paramsync::bench
