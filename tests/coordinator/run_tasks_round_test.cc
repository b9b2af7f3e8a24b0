// RunTasksRound with the gRPC agent client: the calls of a round, started from
// one thread, answer on that thread in the order they complete, each with its
// index; deadlines and CancelAll() reach them; clients without an asynchronous
// path take part through a thread. A real gRPC server on a loopback port
// serves RunTasks as each test scripts it.
#include "coordinator/executor/run_tasks_round.h"

#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/executor/agent_client.h"
#include "paramsync/v1/agent.grpc.pb.h"

namespace paramsync::coordinator {
namespace {

// RunTasks answers bytes_received = 10 x sync_id after sleeping `version`
// milliseconds; version -1 blocks until the call is cancelled.
class ScriptedRunTasksService final : public v1::AgentControl::Service {
 public:
  grpc::Status RunTasks(grpc::ServerContext* context, const v1::RunTasksRequest* request,
                        v1::RunTasksResponse* response) override {
    if (request->version() < 0) {
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(request->version()));
    response->set_bytes_received(10 * static_cast<int64_t>(request->sync_id()));
    return grpc::Status::OK;
  }
};

class LoopbackAgent {
 public:
  LoopbackAgent() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  ~LoopbackAgent() { server_->Shutdown(gpr_now(GPR_CLOCK_MONOTONIC)); }
  const std::string& address() const { return address_; }

 private:
  ScriptedRunTasksService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

v1::RunTasksRequest Request(uint64_t sync_id, int64_t sleep_ms) {
  v1::RunTasksRequest request;
  request.set_sync_id(sync_id);
  request.set_version(sleep_ms);
  return request;
}

// A client with only the blocking call: StartRunTasks' default runs it on a
// thread of the round.
class BlockingOnlyClient final : public AgentClientInterface {
 public:
  absl::StatusOr<v1::NewGroupIdsResponse> NewGroupIds(const v1::NewGroupIdsRequest&,
                                                      absl::Time) override {
    return absl::UnimplementedError("NewGroupIds");
  }
  absl::Status SetupGroups(const v1::SetupGroupsRequest&, absl::Time) override {
    return absl::UnimplementedError("SetupGroups");
  }
  absl::StatusOr<v1::RunTasksResponse> RunTasks(const v1::RunTasksRequest& request,
                                                absl::Time) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(request.version()));
    v1::RunTasksResponse response;
    response.set_bytes_received(10 * static_cast<int64_t>(request.sync_id()));
    return response;
  }
  absl::Status Commit(const v1::CommitRequest&, absl::Time) override {
    return absl::UnimplementedError("Commit");
  }
  absl::Status DestroyGroups(const v1::DestroyGroupsRequest&, absl::Time) override {
    return absl::UnimplementedError("DestroyGroups");
  }
  absl::Status Abort(const v1::AbortRequest&, absl::Time) override {
    return absl::UnimplementedError("Abort");
  }
  void CancelAll() override {}
};

TEST_CASE("a round's calls answer in the order they complete, each with its index") {
  LoopbackAgent agent;
  AgentClientPool pool;
  std::shared_ptr<AgentClientInterface> client = pool.Get(agent.address());
  RunTasksRound round(absl::Milliseconds(5));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  client->StartRunTasks(Request(1, 400), deadline, 0, round);
  client->StartRunTasks(Request(2, 0), deadline, 1, round);
  client->StartRunTasks(Request(3, 200), deadline, 2, round);
  REQUIRE(round.outstanding() == 3);
  std::vector<size_t> order;
  while (std::optional<RunTasksRound::Answer> answer = round.Next(absl::InfiniteFuture())) {
    REQUIRE(answer->result.ok());
    CHECK(answer->result->bytes_received() == 10 * static_cast<int64_t>(answer->index + 1));
    order.push_back(answer->index);
  }
  CHECK(order == std::vector<size_t>{1, 2, 0});
  CHECK(round.outstanding() == 0);
}

TEST_CASE("Next returns nothing at its time limit; a call past its deadline names the agent") {
  LoopbackAgent agent;
  AgentClientPool pool;
  RunTasksRound round(absl::Milliseconds(5));
  pool.Get(agent.address())
      ->StartRunTasks(Request(1, -1), absl::Now() + absl::Milliseconds(300), 0, round);
  const absl::Time start = absl::Now();
  CHECK_FALSE(round.Next(start + absl::Milliseconds(50)).has_value());
  CHECK(absl::Now() - start >= absl::Milliseconds(50));
  CHECK(round.outstanding() == 1);
  std::optional<RunTasksRound::Answer> answer = round.Next(absl::InfiniteFuture());
  REQUIRE(answer.has_value());
  CHECK(answer->result.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(absl::StrContains(answer->result.status().message(),
                          absl::StrCat("RunTasks on agent ", agent.address())));
}

TEST_CASE("CancelAll cancels a round's calls in flight") {
  LoopbackAgent agent;
  AgentClientPool pool;
  RunTasksRound round(absl::Milliseconds(5));
  std::shared_ptr<AgentClientInterface> client = pool.Get(agent.address());
  client->StartRunTasks(Request(1, -1), absl::Now() + absl::Seconds(30), 0, round);
  CHECK_FALSE(round.Next(absl::Now() + absl::Milliseconds(20)).has_value());
  const absl::Time cancelled = absl::Now();
  pool.CancelAll();
  std::optional<RunTasksRound::Answer> answer = round.Next(absl::Now() + absl::Seconds(10));
  REQUIRE(answer.has_value());
  CHECK(answer->result.status().code() == absl::StatusCode::kCancelled);
  CHECK(absl::Now() - cancelled < absl::Seconds(5));
}

TEST_CASE("a client without an asynchronous call answers through a thread of the round") {
  LoopbackAgent agent;
  AgentClientPool pool;
  BlockingOnlyClient blocking;
  RunTasksRound round(absl::ZeroDuration());  // Sleeps in Next: the alarm must wake it.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  blocking.StartRunTasks(Request(5, 100), deadline, 0, round);
  pool.Get(agent.address())->StartRunTasks(Request(7, 0), deadline, 1, round);
  std::vector<std::pair<size_t, int64_t>> answers;
  while (std::optional<RunTasksRound::Answer> answer = round.Next(absl::InfiniteFuture())) {
    REQUIRE(answer->result.ok());
    answers.emplace_back(answer->index, answer->result->bytes_received());
  }
  CHECK(answers == std::vector<std::pair<size_t, int64_t>>{{1, 70}, {0, 50}});
}

TEST_CASE("a round destroyed with calls in flight waits for them") {
  BlockingOnlyClient blocking;
  const absl::Time start = absl::Now();
  {
    RunTasksRound round(absl::Milliseconds(5));
    blocking.StartRunTasks(Request(1, 100), absl::Now() + absl::Seconds(10), 0, round);
  }
  CHECK(absl::Now() - start >= absl::Milliseconds(100));
}

}  // namespace
}  // namespace paramsync::coordinator
