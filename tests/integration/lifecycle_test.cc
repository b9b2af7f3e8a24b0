// Daemon lifecycle with real processes: coordinator restarts, clean shutdown
// with a sync in flight, and the error channel.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "common/grpc_channels.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace paramsync::bench {
namespace {

struct Deployment {
  std::unique_ptr<LocalCluster> cluster;
  std::vector<ChildProcess*> trainer;
  std::vector<ChildProcess*> inference;
};

// A TP1 trainer on agent 0 and one TP1 inference rank on agent 1, group "g".
Deployment DeployPair(const std::string& name, const std::string& inference_mismatch = "") {
  Deployment d;
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(2, MakeWorkDir(name));
  INFO(cluster.status().ToString());
  REQUIRE(cluster.ok());
  d.cluster = *std::move(cluster);
  auto trainer = d.cluster->Deploy({"trainer", true, 1, 1, 1, {0}, "small"});
  REQUIRE(trainer.ok());
  ModelDeployment inference{"vllm", false, 1, 1, 1, {1}, "small"};
  inference.mismatch = inference_mismatch;
  auto ranks = d.cluster->Deploy(inference);
  REQUIRE(ranks.ok());
  d.trainer = *trainer;
  d.inference = *ranks;
  return d;
}

void CreateGroup(client::CoordinatorClient& coordinator) {
  v1::SyncGroupSpec spec;
  spec.set_name("g");
  spec.set_src_model("trainer");
  spec.set_dst_model("vllm");
  REQUIRE(coordinator.CreateSyncGroup(spec).ok());
}

void FillSyncVerify(Deployment& d, client::CoordinatorClient& coordinator, int64_t weights,
                    int64_t expected_version) {
  REQUIRE(LocalCluster::CommandAll(d.trainer, absl::StrCat("fill ", weights)).ok());
  absl::StatusOr<v1::SyncResponse> report = coordinator.Sync("g");
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  CHECK(report->version() == expected_version);
  absl::StatusOr<std::vector<std::string>> verified =
      LocalCluster::CommandAll(d.inference, absl::StrCat("verify ", weights));
  INFO(verified.status().ToString());
  CHECK(verified.ok());
}

TEST_CASE("After a coordinator crash, agents re-register themselves and their endpoints",
          "[lifecycle]") {
  Deployment d = DeployPair("restart");
  client::CoordinatorClient coordinator(d.cluster->coordinator_address());
  CreateGroup(coordinator);
  FillSyncVerify(d, coordinator, 1, 1);

  absl::Status restarted = d.cluster->RestartCoordinator(/*crash=*/true);
  INFO(restarted.ToString());
  REQUIRE(restarted.ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  int endpoints = 0;
  while (absl::Now() < deadline) {
    absl::StatusOr<v1::ListEndpointsResponse> listed = coordinator.ListEndpoints();
    endpoints = listed.ok() ? listed->endpoints_size() : 0;
    if (endpoints == 2) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  REQUIRE(endpoints == 2);
  // Groups and versions live in the coordinator's memory for now, so the new
  // coordinator starts at version 1 again.
  CreateGroup(coordinator);
  FillSyncVerify(d, coordinator, 2, 1);
}

TEST_CASE("SIGTERM fails an in-flight sync with UNAVAILABLE and the coordinator exits 0",
          "[lifecycle]") {
  Deployment d = DeployPair("sigterm");
  client::CoordinatorClient coordinator(d.cluster->coordinator_address());
  CreateGroup(coordinator);
  REQUIRE(LocalCluster::CommandAll(d.trainer, "fill 1").ok());
  // A frozen inference agent keeps the sync from finishing by itself.
  d.cluster->agent(1).Signal(SIGSTOP);
  std::optional<absl::Status> result;
  std::thread sync([&] { result = coordinator.Sync("g", absl::Seconds(60)).status(); });
  absl::SleepFor(absl::Milliseconds(500));
  const absl::Time start = absl::Now();
  d.cluster->coordinator().Signal(SIGTERM);
  sync.join();
  d.cluster->agent(1).Signal(SIGCONT);
  REQUIRE(result.has_value());
  INFO(result->ToString());
  CHECK(result->code() == absl::StatusCode::kUnavailable);
  CHECK(absl::Now() - start < absl::Seconds(15));
  const int status = d.cluster->coordinator().Terminate(absl::Seconds(15));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("The coordinator serves the standard gRPC health check", "[lifecycle]") {
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start(1, MakeWorkDir("health"));
  REQUIRE(cluster.ok());
  auto health =
      grpc::health::v1::Health::NewStub(MakeAgentChannel((*cluster)->coordinator_address()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health->Check(&context, {}, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(response.status() == grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_CASE("A killed trainer process fails the next sync instead of sending stale bytes",
          "[lifecycle]") {
  Deployment d = DeployPair("killed-trainer");
  client::CoordinatorClient coordinator(d.cluster->coordinator_address());
  CreateGroup(coordinator);
  FillSyncVerify(d, coordinator, 1, 1);
  d.trainer[0]->Signal(SIGKILL);
  // The agent sees the process's connection close within moments.
  absl::Status status;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    absl::SleepFor(absl::Milliseconds(100));
    status = coordinator.Sync("g").status();
  } while (status.ok() && absl::Now() < deadline);
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(status.message()).find("trainer rank 0 has exited") != std::string::npos);
  // Registered again (the process restarted), the next sync succeeds.
  auto again = d.cluster->Deploy({"trainer", true, 1, 1, 1, {0}, "small"});
  REQUIRE(again.ok());
  d.trainer = *again;
  FillSyncVerify(d, coordinator, 2, 2);
}

TEST_CASE("A failed sync is published on the error channel", "[lifecycle]") {
  Deployment d = DeployPair("errors", "dtype");
  client::CoordinatorClient coordinator(d.cluster->coordinator_address());
  CreateGroup(coordinator);
  std::optional<v1::ErrorEvent> event;
  std::thread watcher([&] {
    client::CoordinatorClient watch(d.cluster->coordinator_address());
    (void)watch.WatchErrors(
        [&](const v1::ErrorEvent& e) {
          event = e;
          return false;
        },
        absl::Seconds(20));
  });
  absl::SleepFor(absl::Milliseconds(300));  // The watcher subscribes first.
  absl::Status sync = coordinator.Sync("g").status();
  CHECK(sync.code() == absl::StatusCode::kFailedPrecondition);
  watcher.join();
  REQUIRE(event.has_value());
  CHECK(event->group() == "g");
  CHECK(event->code() == static_cast<int>(absl::StatusCode::kFailedPrecondition));
  CHECK(event->message().find("dtype mismatch") != std::string::npos);
  CHECK(event->version() == 1);
}

}  // namespace
}  // namespace paramsync::bench
