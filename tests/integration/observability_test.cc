// What operators see of a running deployment, from outside its processes: the
// Prometheus /metrics endpoints of the coordinator and the agents (scraped over
// HTTP, read with an independent parser), the standard gRPC health service and
// server reflection.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/local_cluster.h"
#include "client/coordinator_client.h"
#include "common/grpc_channels.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/integration/cluster_helpers.h"
#include "tests/metrics/exposition_parser.h"
#include "tests/metrics/http_get.h"

namespace paramsync::bench {
namespace {

using grpc::health::v1::HealthCheckResponse;
using Samples = std::map<std::string, double>;

// GET /metrics from `address`, checked against the exposition format.
Samples Scrape(const std::string& address) {
  absl::StatusOr<testing::HttpResponse> response = testing::HttpGet(address, "/metrics");
  INFO(response.status().ToString());
  REQUIRE(response.ok());
  REQUIRE(response->status == 200);
  absl::StatusOr<Samples> samples = testing::ParseExposition(response->body);
  INFO(samples.status().ToString() << "\n" << response->body);
  REQUIRE(samples.ok());
  return *std::move(samples);
}

// A sample's value; 0 when the series does not exist (a counter never counted).
double Value(const Samples& samples, const std::string& series) {
  auto it = samples.find(series);
  return it == samples.end() ? 0 : it->second;
}

// Sum over agents [0, count) of `series`.
double AgentSum(LocalCluster& cluster, int count, const std::string& series) {
  double sum = 0;
  for (int i = 0; i < count; ++i) sum += Value(Scrape(cluster.agent_metrics_address(i)), series);
  return sum;
}

HealthCheckResponse::ServingStatus Health(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(MakeAgentChannel(address));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, {}, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response.status();
}

// Polls `address`'s health until it is `wanted` (true) or 10 s passed (false).
bool AwaitHealth(const std::string& address, HealthCheckResponse::ServingStatus wanted) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (Health(address) == wanted) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

// The services `address` lists through server reflection.
std::set<std::string> ListServices(const std::string& address) {
  namespace reflection = grpc::reflection::v1alpha;
  auto stub = reflection::ServerReflection::NewStub(MakeAgentChannel(address));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub->ServerReflectionInfo(&context);
  reflection::ServerReflectionRequest request;
  request.set_list_services("");
  REQUIRE(stream->Write(request));
  stream->WritesDone();
  reflection::ServerReflectionResponse response;
  REQUIRE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  INFO(status.error_message());
  REQUIRE(status.ok());
  std::set<std::string> names;
  for (const reflection::ServiceResponse& service : response.list_services_response().service()) {
    names.insert(service.name());
  }
  return names;
}

TEST_CASE("A sync shows in the coordinator's and the agents' metrics", "[observability]") {
  auto cluster = StartCluster(2, "metrics");
  const std::string preset = "small";
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 1, 1, 1, {0}, preset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 1, 1, 1, {1}, preset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, "g", "trainer", "vllm");

  Samples before = Scrape(cluster->coordinator_metrics_address());
  CHECK(Value(before, "paramsync_coordinator_agents_live") == 2);
  CHECK(Value(before, "paramsync_coordinator_endpoints{model=\"vllm\",version=\"0\"}") == 1);
  CHECK(Value(before, "paramsync_coordinator_syncs_total{group=\"g\",outcome=\"ok\"}") == 0);

  const v1::SyncResponse report =
      SyncAndVerify(coordinator, "g", trainer, inference, 1, InferenceBytes(preset, 1, 1));
  const double bytes = static_cast<double>(report.bytes());
  REQUIRE(bytes > 0);

  Samples after = Scrape(cluster->coordinator_metrics_address());
  CHECK(Value(after, "paramsync_coordinator_syncs_total{group=\"g\",outcome=\"ok\"}") == 1);
  CHECK(Value(after,
              "paramsync_coordinator_sync_duration_seconds_count{group=\"g\",outcome=\"ok\"}") ==
        1);
  // Timed around the whole sync, a little more than the report's own time.
  const double seconds =
      Value(after, "paramsync_coordinator_sync_duration_seconds_sum{group=\"g\",outcome=\"ok\"}");
  CHECK(seconds >= report.duration_ms() / 1000);
  CHECK(seconds < report.duration_ms() / 1000 + 0.1);
  CHECK(Value(after, "paramsync_coordinator_sync_bytes_total{group=\"g\"}") == bytes);
  CHECK(Value(after, "paramsync_coordinator_sync_last_bytes{group=\"g\"}") == bytes);
  CHECK(Value(after, "paramsync_coordinator_sync_last_bandwidth_bytes_per_second{group=\"g\"}") ==
        Approx(bytes / (report.duration_ms() / 1000)));
  CHECK(Value(after, "paramsync_coordinator_group_version{group=\"g\"}") == 1);
  CHECK(Value(after,
              "paramsync_coordinator_sync_phase_duration_seconds_count{group=\"g\","
              "phase=\"transfer_round\"}") == 1);
  CHECK(Value(after,
              "paramsync_coordinator_sync_phase_duration_seconds_count{group=\"g\","
              "phase=\"stage1\"}") == 1);
  CHECK(Value(after, "paramsync_coordinator_agents_live") == 2);
  CHECK(Value(after, "paramsync_coordinator_endpoints{model=\"vllm\",version=\"1\"}") == 1);
  CHECK(after.count("paramsync_coordinator_endpoints{model=\"vllm\",version=\"0\"}") == 0);
  CHECK(Value(after, "paramsync_coordinator_endpoints{model=\"trainer\",version=\"0\"}") == 1);

  // The trainer's agent sent what the inference rank's agent received.
  Samples sender = Scrape(cluster->agent_metrics_address(0));
  Samples receiver = Scrape(cluster->agent_metrics_address(1));
  const std::string sent =
      "paramsync_agent_transfer_bytes_total{direction=\"sent\",stage=\"stage1\"}";
  const std::string received =
      "paramsync_agent_transfer_bytes_total{direction=\"received\",stage=\"stage1\"}";
  CHECK(Value(sender, sent) == bytes);
  CHECK(Value(receiver, received) == bytes);
  CHECK(Value(sender, received) == 0);
  for (const Samples* agent : {&sender, &receiver}) {
    CHECK(Value(*agent, "paramsync_agent_task_runs_total{outcome=\"ok\"}") == 1);
    CHECK(Value(*agent, "paramsync_agent_task_run_duration_seconds_count{outcome=\"ok\"}") == 1);
    CHECK(Value(*agent, "paramsync_agent_stage_duration_seconds_count{stage=\"stage1\"}") == 1);
    CHECK(Value(*agent, "paramsync_agent_collective_groups") >= 1);
    CHECK(Value(*agent, "paramsync_agent_collective_group_setup_seconds_count{outcome=\"ok\"}") ==
          Value(*agent, "paramsync_agent_collective_groups"));
    CHECK(Value(*agent, "paramsync_agent_coordinator_connected") == 1);
  }

  // A second sync adds up.
  SyncAndVerify(coordinator, "g", trainer, inference, 2, InferenceBytes(preset, 1, 1));
  after = Scrape(cluster->coordinator_metrics_address());
  CHECK(Value(after, "paramsync_coordinator_syncs_total{group=\"g\",outcome=\"ok\"}") == 2);
  CHECK(Value(after, "paramsync_coordinator_sync_bytes_total{group=\"g\"}") == 2 * bytes);
  CHECK(Value(after, "paramsync_coordinator_endpoints{model=\"vllm\",version=\"2\"}") == 1);
  CHECK(AgentSum(*cluster, 2, received) == 2 * bytes);
}

TEST_CASE("A direct sync's box moves count as stage-1 bytes in the agents' metrics",
          "[observability]") {
  // TP2 -> TP1: the inference rank's agent receives half of it from each trainer rank.
  auto cluster = StartCluster(3, "metrics-direct");
  const std::string preset = "small";
  auto trainer = DeployOrDie(*cluster, {"trainer", true, 2, 1, 1, {0, 1}, preset});
  auto inference = DeployOrDie(*cluster, {"vllm", false, 1, 1, 1, {2}, preset});
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  v1::SyncGroupSpec spec = GroupSpec("g", "trainer", "vllm");
  spec.set_strategy(v1::SYNC_STRATEGY_KIND_DIRECT);
  CreateGroup(coordinator, spec);
  const v1::SyncResponse report =
      SyncAndVerify(coordinator, "g", trainer, inference, 1, InferenceBytes(preset, 1, 1));
  const double bytes = static_cast<double>(report.bytes());
  CHECK(AgentSum(*cluster, 3,
                 "paramsync_agent_transfer_bytes_total{direction=\"sent\",stage=\"stage1\"}") ==
        bytes);
  CHECK(Value(Scrape(cluster->agent_metrics_address(2)),
              "paramsync_agent_transfer_bytes_total{direction=\"received\",stage=\"stage1\"}") ==
        bytes);
}

TEST_CASE("A failed sync counts by outcome and as an error", "[observability]") {
  auto cluster = StartCluster(2, "metrics-failure");
  DeployOrDie(*cluster, {"trainer", true, 1, 1, 1, {0}, "small"});
  ModelDeployment incomplete{"vllm", false, 2, 1, 1, {1, 1}, "small"};
  incomplete.skip_rank = 1;
  DeployOrDie(*cluster, incomplete);
  client::CoordinatorClient coordinator(cluster->coordinator_address());
  CreateGroup(coordinator, "g", "trainer", "vllm");
  v1::SyncRequest request;
  request.set_group("g");
  REQUIRE(coordinator.Sync(request).status().code() == absl::StatusCode::kFailedPrecondition);

  Samples samples = Scrape(cluster->coordinator_metrics_address());
  CHECK(Value(samples,
              "paramsync_coordinator_syncs_total{group=\"g\",outcome=\"failed_precondition\"}") ==
        1);
  CHECK(Value(samples, "paramsync_coordinator_syncs_total{group=\"g\",outcome=\"ok\"}") == 0);
  CHECK(Value(samples,
              "paramsync_coordinator_errors_total{code=\"failed_precondition\","
              "source=\"sync\"}") == 1);
  CHECK(Value(samples, "paramsync_coordinator_sync_bytes_total{group=\"g\"}") == 0);
}

TEST_CASE(
    "Both daemons serve health checking and reflection; an agent is ready while it "
    "reaches the coordinator",
    "[observability]") {
  auto cluster = StartCluster(1, "health-reflection");
  CHECK(Health(cluster->coordinator_address()) == HealthCheckResponse::SERVING);
  CHECK(Health(cluster->agent_address(0)) == HealthCheckResponse::SERVING);

  const std::set<std::string> coordinator = ListServices(cluster->coordinator_address());
  INFO(absl::StrJoin(coordinator, ", "));
  CHECK(coordinator.count("paramsync.v1.Coordinator") == 1);
  CHECK(coordinator.count("grpc.health.v1.Health") == 1);
  const std::set<std::string> agent = ListServices(cluster->agent_address(0));
  INFO(absl::StrJoin(agent, ", "));
  for (const char* service : {"paramsync.v1.AgentControl", "paramsync.v1.AgentLocal",
                              "paramsync.v1.AgentData", "grpc.health.v1.Health"}) {
    CHECK(agent.count(service) == 1);
  }

  // Without its coordinator the agent cannot take endpoints or syncs.
  cluster->coordinator().Signal(SIGKILL);
  CHECK(AwaitHealth(cluster->agent_address(0), HealthCheckResponse::NOT_SERVING));
  CHECK(Value(Scrape(cluster->agent_metrics_address(0)), "paramsync_agent_coordinator_connected") ==
        0);
  REQUIRE(cluster->RestartCoordinator(/*crash=*/true).ok());
  CHECK(AwaitHealth(cluster->agent_address(0), HealthCheckResponse::SERVING));
  CHECK(Value(Scrape(cluster->agent_metrics_address(0)), "paramsync_agent_coordinator_connected") ==
        1);
}

}  // namespace
}  // namespace paramsync::bench
