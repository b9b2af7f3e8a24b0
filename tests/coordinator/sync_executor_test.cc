// SyncExecutor's liveness: a transfer whose agent stops heartbeating (frozen),
// becomes unreachable (killed) or cannot be reached by a peer's push (a network
// cut) fails at once, blaming that agent and its ranks, with the sync aborted on
// the others. Fake agents, no network.
#include "coordinator/executor/sync_executor.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/unreachable_peer.h"
#include "coordinator/errors/error_channel.h"
#include "coordinator/registry/agent_registry.h"

namespace paramsync::coordinator {
namespace {

// An agent whose RunTasks blocks until the sync is aborted or the call is
// cancelled ("wait"), or fails at once with `run_error`. Abort answers
// `abort_error` (OK by default).
class FakeAgent final : public AgentClientInterface {
 public:
  absl::StatusOr<v1::NewGroupIdsResponse> NewGroupIds(const v1::NewGroupIdsRequest&,
                                                      absl::Time) override {
    return v1::NewGroupIdsResponse();
  }
  absl::Status SetupGroups(const v1::SetupGroupsRequest&, absl::Time) override {
    return absl::OkStatus();
  }
  absl::StatusOr<v1::RunTasksResponse> RunTasks(const v1::RunTasksRequest&,
                                                absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    if (!run_error.ok()) return run_error;
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return aborted_ || cancelled_; };
    mu_.AwaitWithDeadline(absl::Condition(&ended), deadline);
    if (cancelled_) return absl::CancelledError("RunTasks: cancelled");
    if (aborted_) return absl::AbortedError("RunTasks: sync aborted by the coordinator");
    return absl::DeadlineExceededError("RunTasks: deadline");
  }
  absl::Status Commit(const v1::CommitRequest&, absl::Time) override { return absl::OkStatus(); }
  absl::Status DestroyGroups(const v1::DestroyGroupsRequest&, absl::Time) override {
    return absl::OkStatus();
  }
  absl::Status Abort(const v1::AbortRequest&, absl::Time) override {
    absl::MutexLock lock(&mu_);
    ++aborts_;
    if (!abort_error.ok()) return abort_error;
    aborted_ = true;
    return absl::OkStatus();
  }
  void CancelAll() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }

  int aborts() {
    absl::MutexLock lock(&mu_);
    return aborts_;
  }
  bool cancelled() {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

  absl::Status run_error;    // Set before the transfer.
  absl::Status abort_error;  // Set before the transfer.

 private:
  absl::Mutex mu_;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  int aborts_ ABSL_GUARDED_BY(mu_) = 0;
};

v1::AgentInfo Agent(int i) {
  v1::AgentInfo agent;
  agent.set_address(absl::StrCat("127.0.0.1:", 7000 + i));
  agent.set_host("host");
  agent.set_device(absl::StrCat("cpu@", i));
  return agent;
}

// The trainer's rank 0 on agent 0 broadcasting to vllm ranks 0 and 1 on
// agents 1 and 2; agents heartbeat, but for those in `silent`.
struct Cluster {
  explicit Cluster(absl::Duration lease) : registry(lease), executor(&pool, &registry) {
    for (int i = 0; i < 3; ++i) {
      v1::AgentInfo agent = Agent(i);
      agent.set_agent_id(*registry.Register(agent));
      fakes[agent.address()] = std::make_shared<FakeAgent>();
      AgentWork work;
      work.agent = agent;
      plan.agents.push_back(work);
    }
    v1::CollectiveGroupSpec group;
    group.set_name("g-stage1");
    for (int i = 0; i < 3; ++i) {
      v1::GroupMember* member = group.add_members();
      member->set_sync_rank(i);
      member->set_agent_id(plan.agents[i].agent.agent_id());
      member->set_agent_address(plan.agents[i].agent.address());
      member->set_model(i == 0 ? "trainer" : "vllm");
      member->set_model_rank(i == 0 ? 0 : i - 1);
    }
    for (AgentWork& work : plan.agents) *work.groups.add_groups() = group;
    heartbeats = std::thread([this] {
      while (!stop.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
        for (int i = 0; i < 3; ++i) {
          if (silent.count(i) == 0) (void)registry.Heartbeat(plan.agents[i].agent.agent_id());
        }
      }
    });
  }
  ~Cluster() {
    stop.Notify();
    heartbeats.join();
  }

  FakeAgent& fake(int i) { return *fakes[plan.agents[i].agent.address()]; }
  const std::string& id(int i) { return plan.agents[i].agent.agent_id(); }
  const std::string& address(int i) { return plan.agents[i].agent.address(); }

  std::map<std::string, std::shared_ptr<FakeAgent>> fakes;  // By address.
  AgentRegistry registry;
  AgentClientPool pool{[this](const std::string& address) { return fakes.at(address); }};
  SyncExecutor executor;
  TransferPlan plan;
  std::set<int> silent;  // Set before the transfer.
  absl::Notification stop;
  std::thread heartbeats;
};

TEST_CASE("A transfer whose agent stops heartbeating fails after its lease, blaming it",
          "[sync_executor]") {
  Cluster cluster(absl::Milliseconds(300));
  cluster.silent = {1};  // Frozen: no heartbeats, RunTasks never returns by itself.
  const absl::Time start = absl::Now();
  absl::StatusOr<SyncOutcome> outcome = cluster.executor.Transfer(
      cluster.plan, 7, 1, TransferMode::kTransfer, absl::Now() + absl::Seconds(60));
  const absl::Duration took = absl::Now() - start;
  REQUIRE_FALSE(outcome.ok());
  const absl::Status& status = outcome.status();
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(status.message(),
                          absl::StrCat("agent ", cluster.id(1), " at ", cluster.address(1),
                                       " (vllm rank 0) failed: no heartbeat for")));
  CHECK(FailedAgent(status) == cluster.id(1));
  CHECK(took < absl::Seconds(3));
  // Its call was cancelled; the others were aborted, not left to their deadline.
  CHECK(cluster.fake(1).cancelled());
  CHECK(cluster.fake(1).aborts() == 0);
  CHECK(cluster.fake(0).aborts() == 1);
  CHECK(cluster.fake(2).aborts() == 1);
}

TEST_CASE("A transfer whose agent became unreachable fails at once, blaming it",
          "[sync_executor]") {
  Cluster cluster(absl::Seconds(30));
  // Killed: its calls fail, even the Abort, long before its lease lapses.
  cluster.fake(2).run_error = absl::UnavailableError("RunTasks on agent 127.0.0.1:7002: closed");
  cluster.fake(2).abort_error = absl::UnavailableError("Abort on agent 127.0.0.1:7002: refused");
  const absl::Time start = absl::Now();
  absl::StatusOr<SyncOutcome> outcome = cluster.executor.Transfer(
      cluster.plan, 7, 1, TransferMode::kTransfer, absl::Now() + absl::Seconds(60));
  REQUIRE_FALSE(outcome.ok());
  INFO(outcome.status().ToString());
  CHECK(outcome.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(outcome.status().message(),
                          absl::StrCat("agent ", cluster.id(2), " at ", cluster.address(2),
                                       " (vllm rank 1) is unreachable")));
  CHECK(FailedAgent(outcome.status()) == cluster.id(2));
  CHECK(absl::Now() - start < absl::Seconds(3));
  CHECK(cluster.fake(0).aborts() == 1);
  CHECK(cluster.fake(1).aborts() == 1);
}

TEST_CASE("A push that cannot reach a live peer fails the transfer at once, blaming the peer",
          "[sync_executor]") {
  Cluster cluster(absl::Seconds(30));
  // The network between agents 0 and 1 is cut: agent 0's push to agent 1
  // fails, while both heartbeat and take the Abort.
  cluster.fake(0).run_error = WithUnreachablePeer(
      absl::UnavailableError("push of sync 7 task 1 to rank 1: keepalive watchdog timeout"),
      cluster.id(1));
  const absl::Time start = absl::Now();
  absl::StatusOr<SyncOutcome> outcome = cluster.executor.Transfer(
      cluster.plan, 7, 1, TransferMode::kTransfer, absl::Now() + absl::Seconds(60));
  REQUIRE_FALSE(outcome.ok());
  INFO(outcome.status().ToString());
  CHECK(outcome.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(
      outcome.status().message(),
      absl::StrCat("agent ", cluster.id(1), " at ", cluster.address(1),
                   " (vllm rank 0) is unreachable from agent ", cluster.id(0), " at ",
                   cluster.address(0), " (trainer rank 0), though both still heartbeat")));
  CHECK(absl::StrContains(outcome.status().message(), "keepalive watchdog timeout"));
  CHECK(FailedAgent(outcome.status()) == cluster.id(1));
  CHECK(absl::Now() - start < absl::Seconds(3));
  CHECK(cluster.fake(1).aborts() == 1);
  CHECK(cluster.fake(2).aborts() == 1);
}

TEST_CASE("An agent's own error is reported as it is, and aborts the others", "[sync_executor]") {
  Cluster cluster(absl::Seconds(30));
  cluster.fake(1).run_error = absl::FailedPreconditionError("vllm rank 0 has exited");
  absl::StatusOr<SyncOutcome> outcome = cluster.executor.Transfer(
      cluster.plan, 7, 1, TransferMode::kTransfer, absl::Now() + absl::Seconds(60));
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.status() == absl::FailedPreconditionError("vllm rank 0 has exited"));
  CHECK(FailedAgent(outcome.status()).empty());
  CHECK(cluster.fake(0).aborts() == 1);
  CHECK(cluster.fake(2).aborts() == 1);
}

TEST_CASE("Without leases a silent agent is not watched", "[sync_executor]") {
  Cluster cluster(absl::ZeroDuration());
  cluster.silent = {0, 1, 2};
  absl::StatusOr<SyncOutcome> outcome = cluster.executor.Transfer(
      cluster.plan, 7, 1, TransferMode::kTransfer, absl::Now() + absl::Milliseconds(500));
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.status().code() == absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace paramsync::coordinator
