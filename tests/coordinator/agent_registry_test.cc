// AgentRegistry's leases: an agent silent for longer than its lease is expired,
// as if it had never registered, and must register again.
#include "coordinator/registry/agent_registry.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace paramsync::coordinator {
namespace {

v1::AgentInfo Agent(int i) {
  v1::AgentInfo agent;
  agent.set_address(absl::StrCat("127.0.0.1:", 7000 + i));
  agent.set_host("host");
  agent.set_device(absl::StrCat("cpu@", i));
  return agent;
}

TEST_CASE("Without a lease agents never expire", "[agent_registry]") {
  AgentRegistry agents;
  const std::string id = *agents.Register(Agent(0));
  const absl::Time later = absl::Now() + absl::Hours(1);
  CHECK(agents.CheckLease(id, later).ok());
  CHECK(agents.ExpireLapsed(later).empty());
  CHECK(agents.Contains(id));
}

TEST_CASE("An agent silent for longer than its lease expires and must register again",
          "[agent_registry]") {
  AgentRegistry agents(absl::Seconds(5));
  const std::string id = *agents.Register(Agent(0));
  const std::string other = *agents.Register(Agent(1));
  const absl::Time now = absl::Now();
  CHECK(agents.CheckLease(id, now + absl::Seconds(4)).ok());
  absl::Status lapsed = agents.CheckLease(id, now + absl::Seconds(6));
  CHECK(lapsed.code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(lapsed.message(), "no heartbeat for"));
  CHECK(absl::StrContains(lapsed.message(), "(lease 5s)"));

  REQUIRE(agents.Heartbeat(other).ok());
  const int64_t generation = agents.generation();
  // Expired as seen 6 s from now; `other` is too unless it heartbeats then.
  std::vector<v1::AgentInfo> expired = agents.ExpireLapsed(now + absl::Seconds(4));
  CHECK(expired.empty());
  expired = agents.ExpireLapsed(now + absl::Seconds(6));
  REQUIRE(expired.size() == 2);
  CHECK(agents.generation() != generation);
  CHECK_FALSE(agents.Contains(id));
  CHECK(agents.List().empty());
  CHECK(agents.Heartbeat(id).code() == absl::StatusCode::kNotFound);
  // Why it is gone.
  CHECK(absl::StrContains(agents.CheckLease(id).message(), "no heartbeat for 6s"));
  CHECK(absl::StrContains(agents.CheckLease("agent-unknown").message(), "not registered any more"));
  // It registers again, under a new id.
  const std::string again = *agents.Register(Agent(0));
  CHECK(again != id);
  CHECK(agents.CheckLease(again).ok());
}

TEST_CASE("The expiry thread expires a silent agent and says so; heartbeats keep one alive",
          "[agent_registry]") {
  AgentRegistry agents(absl::Milliseconds(200));
  absl::Mutex mu;
  std::vector<std::string> expired;
  agents.StartExpiring(
      [&](const v1::AgentInfo& agent, absl::Duration silent) {
        CHECK(silent > absl::Milliseconds(200));
        absl::MutexLock lock(&mu);
        expired.push_back(agent.agent_id());
      },
      absl::Milliseconds(10));
  const std::string silent = *agents.Register(Agent(0));
  const std::string alive = *agents.Register(Agent(1));
  const absl::Time until = absl::Now() + absl::Seconds(1);
  while (absl::Now() < until) {
    REQUIRE(agents.Heartbeat(alive).ok());
    absl::SleepFor(absl::Milliseconds(20));
  }
  agents.StopExpiring();
  absl::MutexLock lock(&mu);
  CHECK(expired == std::vector<std::string>{silent});
  CHECK(agents.Contains(alive));
  CHECK_FALSE(agents.Contains(silent));
}

TEST_CASE("A heartbeat after the lease lapsed expires the agent instead of renewing it",
          "[agent_registry]") {
  AgentRegistry agents(absl::Milliseconds(50));
  const std::string id = *agents.Register(Agent(0));
  absl::SleepFor(absl::Milliseconds(120));
  absl::Status late = agents.Heartbeat(id);
  CHECK(late.code() == absl::StatusCode::kNotFound);
  CHECK(absl::StrContains(late.message(), "lease expired"));
  CHECK_FALSE(agents.Contains(id));
}

}  // namespace
}  // namespace paramsync::coordinator
