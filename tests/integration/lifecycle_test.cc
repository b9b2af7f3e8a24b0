// Daemon lifecycle with real processes: coordinator restarts (with and
// without a state file), clean shutdown with a sync in flight, and the error
// channel.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "common/grpc_channels.h"
#include "coordinator/state/state_file.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/cluster_helpers.h"

namespace paramsync::bench {
namespace {

struct Deployment {
  std::unique_ptr<LocalCluster> cluster;
  std::vector<ChildProcess*> trainer;
  std::vector<ChildProcess*> inference;
};

// A TP1 trainer on agent 0 and one TP1 inference rank on agent 1, group "g".
Deployment DeployPair(const std::string& name, const std::string& inference_mismatch = "",
                      const std::vector<std::string>& coordinator_flags = {}) {
  Deployment d;
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start({"cpu", "cpu"}, MakeWorkDir(name), {}, coordinator_flags);
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

v1::SyncGroupSpec SpecG(const std::string& dst = "vllm") {
  v1::SyncGroupSpec spec;
  spec.set_name("g");
  spec.set_src_model("trainer");
  spec.set_dst_model(dst);
  return spec;
}

void CreateGroup(client::CoordinatorClient& coordinator) {
  REQUIRE(coordinator.CreateSyncGroup(SpecG()).ok());
}

// Returns the version the sync committed.
int64_t FillSyncVerify(Deployment& d, client::CoordinatorClient& coordinator, int64_t weights) {
  REQUIRE(LocalCluster::CommandAll(d.trainer, absl::StrCat("fill ", weights)).ok());
  absl::StatusOr<v1::SyncResponse> report = coordinator.Sync("g");
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  absl::StatusOr<std::vector<std::string>> verified =
      LocalCluster::CommandAll(d.inference, absl::StrCat("verify ", weights));
  INFO(verified.status().ToString());
  CHECK(verified.ok());
  return report->version();
}

TEST_CASE("After a coordinator crash, agents re-register themselves and their endpoints",
          "[lifecycle]") {
  Deployment d = DeployPair("restart");
  client::CoordinatorClient coordinator(d.cluster->coordinator_address());
  CreateGroup(coordinator);
  CHECK(FillSyncVerify(d, coordinator, 1) == 1);

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
  // Without --state_file groups and versions live in the coordinator's memory
  // only, so the new coordinator starts at version 1 again.
  CreateGroup(coordinator);
  CHECK(FillSyncVerify(d, coordinator, 2) == 1);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Waits until the restarted coordinator lists `count` endpoints; returns them.
std::vector<v1::EndpointStatus> AwaitEndpoints(client::CoordinatorClient& coordinator, int count) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  absl::StatusOr<v1::ListEndpointsResponse> listed;
  while (absl::Now() < deadline) {
    listed = coordinator.ListEndpoints();
    if (listed.ok() && listed->endpoints_size() == count) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  REQUIRE(listed.ok());
  REQUIRE(listed->endpoints_size() == count);
  return {listed->endpoints().begin(), listed->endpoints().end()};
}

int64_t EndpointVersion(const std::vector<v1::EndpointStatus>& endpoints,
                        const std::string& model) {
  for (const v1::EndpointStatus& e : endpoints) {
    if (e.endpoint().model() == model) return e.version();
  }
  return -1;
}

TEST_CASE("With --state_file, groups, versions and history survive a coordinator crash",
          "[lifecycle]") {
  const std::string state = MakeWorkDir("state-file") + "/coordinator.state";
  Deployment d = DeployPair("state", "", {"--state_file=" + state});
  client::CoordinatorClient coordinator(d.cluster->coordinator_address());
  CreateGroup(coordinator);
  const int64_t bytes = InferenceBytes("small", 1, 1);
  SyncAndVerify(coordinator, "g", d.trainer, d.inference, 1, bytes);
  SyncAndVerify(coordinator, "g", d.trainer, d.inference, 2, bytes);

  absl::Status restarted = d.cluster->RestartCoordinator(/*crash=*/true);  // kill -9.
  INFO(restarted.ToString());
  REQUIRE(restarted.ok());
  // Endpoints come back holding what their agents committed.
  std::vector<v1::EndpointStatus> endpoints = AwaitEndpoints(coordinator, 2);
  CHECK(EndpointVersion(endpoints, "vllm") == 2);
  CHECK(EndpointVersion(endpoints, "trainer") == 0);
  // The group is still there: the same spec is accepted, another one is not.
  CHECK(coordinator.CreateSyncGroup(SpecG()).ok());
  CHECK(coordinator.CreateSyncGroup(SpecG("other")).code() == absl::StatusCode::kAlreadyExists);
  // It continues from the persisted version.
  SyncAndVerify(coordinator, "g", d.trainer, d.inference, 3, bytes);
  endpoints = AwaitEndpoints(coordinator, 2);
  CHECK(EndpointVersion(endpoints, "vllm") == 3);

  // The history before the crash survived it.
  absl::StatusOr<v1::CoordinatorState> saved = coordinator::StateFile::Decode(ReadFile(state));
  INFO(saved.status().ToString());
  REQUIRE(saved.ok());
  REQUIRE(saved->groups_size() == 1);
  const v1::SyncGroupState& group = saved->groups(0);
  CHECK(group.committed_version() == 3);
  REQUIRE(group.history_size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(group.history(i).version() == i + 1);
    CHECK(group.history(i).bytes() == bytes);
  }

  // A clean restart (SIGTERM) keeps it too.
  restarted = d.cluster->RestartCoordinator(/*crash=*/false);
  INFO(restarted.ToString());
  REQUIRE(restarted.ok());
  AwaitEndpoints(coordinator, 2);
  SyncAndVerify(coordinator, "g", d.trainer, d.inference, 4, bytes);
}

TEST_CASE("A corrupt state file stops the coordinator, naming the file and the problem",
          "[lifecycle]") {
  const std::string dir = MakeWorkDir("corrupt-state");
  const std::string state = dir + "/coordinator.state";
  {
    std::ofstream out(state);
    out << "version=3\n";
  }
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start(std::vector<std::string>{}, dir, {}, {"--state_file=" + state});
  INFO(cluster.status().ToString());
  REQUIRE_FALSE(cluster.ok());
  CHECK(absl::StrContains(cluster.status().message(), "exited before serving"));
  const std::string log = ReadFile(dir + "/coordinator0.log");
  INFO(log);
  CHECK(absl::StrContains(log, absl::StrCat("state file ", state,
                                            ": not a paramsync coordinator "
                                            "state file")));
  CHECK(ReadFile(state) == "version=3\n");  // Left for the operator.
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
  CHECK(FillSyncVerify(d, coordinator, 1) == 1);
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
  // Failed syncs take their version numbers along: versions only grow.
  CHECK(FillSyncVerify(d, coordinator, 2) > 1);
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
