#include "common/health_listener.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/credentials.h>

#include <catch2/catch.hpp>
#include <chrono>

#include "grpc/health/v1/health.grpc.pb.h"
#include "paramsync/v1/coordinator.grpc.pb.h"

namespace paramsync {
namespace {

using grpc::health::v1::HealthCheckResponse;

// A probe as kubelet sends it: plaintext, no token, the overall service ("").
grpc::Status Probe(const std::string& address, HealthCheckResponse* response) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return stub->Check(&context, {}, response);
}

TEST_CASE("The health port answers plaintext probes SERVING until shut down", "[health_listener]") {
  // As in the daemons, whose own servers use gRPC's default health service.
  grpc::EnableDefaultHealthCheckService(true);
  absl::StatusOr<std::unique_ptr<HealthListener>> health = HealthListener::Start("127.0.0.1:0");
  INFO(health.status().ToString());
  REQUIRE(health.ok());
  const std::string address = (*health)->address();
  CHECK(address.rfind("127.0.0.1:", 0) == 0);
  HealthCheckResponse response;
  grpc::Status status = Probe(address, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(response.status() == HealthCheckResponse::SERVING);

  (*health)->Shutdown();
  (*health)->Shutdown();  // Idempotent.
  CHECK(Probe(address, &response).error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("The health port serves nothing but health", "[health_listener]") {
  absl::StatusOr<std::unique_ptr<HealthListener>> health = HealthListener::Start("127.0.0.1:0");
  REQUIRE(health.ok());
  auto coordinator = v1::Coordinator::NewStub(
      grpc::CreateChannel((*health)->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ListAgentsResponse response;
  CHECK(coordinator->ListAgents(&context, {}, &response).error_code() ==
        grpc::StatusCode::UNIMPLEMENTED);
}

TEST_CASE("A health port that cannot listen is refused, naming the address", "[health_listener]") {
  absl::StatusOr<std::unique_ptr<HealthListener>> first = HealthListener::Start("127.0.0.1:0");
  REQUIRE(first.ok());
  absl::StatusOr<std::unique_ptr<HealthListener>> second =
      HealthListener::Start((*first)->address());
  CHECK(second.status().code() == absl::StatusCode::kUnavailable);
  CHECK(second.status().message() ==
        "could not listen on " + (*first)->address() + " (--health_listen)");
}

}  // namespace
}  // namespace paramsync
