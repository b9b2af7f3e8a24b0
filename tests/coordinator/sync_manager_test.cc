// SyncManager's plan cache, driven through GetPlan with real registries (no
// agent is contacted to plan); its versions, commits and state file, driven
// through Sync with fake agents.
#include "coordinator/sync/sync_manager.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace paramsync::coordinator {
namespace {

v1::AgentInfo Agent(int i) {
  v1::AgentInfo info;
  info.set_address(absl::StrCat("127.0.0.1:", 7000 + i));
  info.set_host("node0");
  info.set_device(absl::StrCat("cpu:", i));
  return info;
}

v1::RegisterEndpointRequest Endpoint(const std::string& agent_id, const std::string& model,
                                     v1::Role role) {
  v1::RegisterEndpointRequest request;
  request.set_agent_id(agent_id);
  v1::EndpointSpec* e = request.mutable_endpoint();
  e->set_model(model);
  e->set_role(role);
  {
    v1::ParallelConfig* p = e->mutable_parallel();
    p->set_tp_size(1);
    p->set_pp_size(1);
    p->set_ep_size(1);
    p->set_dp_size(1);
  }
  v1::ParameterSpec* w = request.add_parameters();
  w->set_name("w");
  w->set_dtype(v1::DTYPE_FLOAT32);
  w->add_shape(4);
  return request;
}

TEST_CASE("Plans are cached until agents or endpoints change", "[sync_manager]") {
  AgentRegistry agents;
  EndpointRegistry endpoints(&agents);
  ErrorChannel errors;
  AgentClientPool clients;
  SyncExecutor executor(&clients);
  SyncManager syncs(&agents, &endpoints, &executor, &errors);

  const std::string a = *agents.Register(Agent(0));
  const std::string b = *agents.Register(Agent(1));
  REQUIRE(endpoints.Register(Endpoint(a, "trainer", v1::ROLE_TRAINER)).ok());
  REQUIRE(endpoints.Register(Endpoint(b, "vllm", v1::ROLE_INFERENCE)).ok());
  v1::SyncGroupSpec spec;
  spec.set_name("g");
  spec.set_src_model("trainer");
  spec.set_dst_model("vllm");
  REQUIRE(syncs.CreateGroup(spec).ok());

  absl::StatusOr<v1::SyncPlan> plan = syncs.GetPlan("g");
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  CHECK(plan->stage1_size() == 1);
  CHECK(syncs.plans_built() == 1);
  REQUIRE(syncs.GetPlan("g").ok());
  CHECK(syncs.plans_built() == 1);

  // Neither heartbeats nor version updates change the topology.
  REQUIRE(agents.Heartbeat(a).ok());
  endpoints.SetVersion("vllm", 0, 7);
  REQUIRE(syncs.GetPlan("g").ok());
  CHECK(syncs.plans_built() == 1);

  // A re-registered endpoint (its process restarted) does.
  REQUIRE(endpoints.Register(Endpoint(b, "vllm", v1::ROLE_INFERENCE)).ok());
  REQUIRE(syncs.GetPlan("g").ok());
  CHECK(syncs.plans_built() == 2);

  // So does an agent registering again (it restarted: new id, new address maybe).
  const std::string b2 = *agents.Register(Agent(1));
  CHECK(syncs.GetPlan("g").status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(endpoints.Register(Endpoint(b2, "vllm", v1::ROLE_INFERENCE)).ok());
  REQUIRE(syncs.GetPlan("g").ok());
  CHECK(syncs.plans_built() == 3);
}

TEST_CASE("Group specs are validated; the same spec twice is accepted", "[sync_manager]") {
  AgentRegistry agents;
  EndpointRegistry endpoints(&agents);
  ErrorChannel errors;
  AgentClientPool clients;
  SyncExecutor executor(&clients);
  SyncManager syncs(&agents, &endpoints, &executor, &errors);
  v1::SyncGroupSpec spec;
  spec.set_name("g");
  spec.set_src_model("t");
  spec.set_dst_model("i");
  REQUIRE(syncs.CreateGroup(spec).ok());
  REQUIRE(syncs.CreateGroup(spec).ok());
  v1::SyncGroupSpec other = spec;
  other.set_dst_model("j");
  CHECK(syncs.CreateGroup(other).code() == absl::StatusCode::kAlreadyExists);
  other.set_name("bad name!");
  CHECK(syncs.CreateGroup(other).code() == absl::StatusCode::kInvalidArgument);
  other.set_name("h");
  other.set_strategy(static_cast<v1::SyncStrategyKind>(7));
  const absl::Status strategy = syncs.CreateGroup(other);
  CHECK(strategy.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(strategy.message()).find("group.strategy is 7") != std::string::npos);
  CHECK(syncs.GetPlan("missing").status().code() == absl::StatusCode::kNotFound);
  CHECK(syncs.GetPlan("g").status().code() == absl::StatusCode::kNotFound);
}

// Agents that do what they are told at once; inference agents report the
// bytes of their one 4-float endpoint. Commits (in RunTasks or by Commit) to
// `failing_commits` fail, after another agent committed: the sync then fails
// part-way.
struct FakeAgents {
  absl::Mutex mu;
  std::set<std::string> inference;        // Addresses.
  std::set<std::string> failing_commits;  // Addresses.
  std::string mkdir_on_commit;            // A directory the next commit creates.
  std::vector<std::pair<std::string, v1::CommitRequest>> commits;
  std::set<std::pair<std::string, v1::LoraAction>> failing_lora;  // Address, action.
  std::vector<std::pair<std::string, v1::LoraRequest>> lora;
  // "ADDRESS RunTasks" and "ADDRESS LORA_ACTION_...", in the order called.
  std::vector<std::string> calls;
};

class FakeAgent final : public AgentClientInterface {
 public:
  FakeAgent(FakeAgents* agents, std::string address)
      : agents_(agents), address_(std::move(address)) {}
  absl::StatusOr<v1::NewGroupIdsResponse> NewGroupIds(const v1::NewGroupIdsRequest&,
                                                      absl::Time) override {
    return absl::UnimplementedError("CPU agents need no group ids");
  }
  absl::Status SetupGroups(const v1::SetupGroupsRequest&, absl::Time) override {
    return absl::OkStatus();
  }
  absl::StatusOr<v1::RunTasksResponse> RunTasks(const v1::RunTasksRequest& request,
                                                absl::Time) override {
    {
      absl::MutexLock lock(&agents_->mu);
      agents_->calls.push_back(absl::StrCat(address_, " RunTasks"));
    }
    v1::RunTasksResponse response;
    if (!request.commit_endpoints().empty()) {
      v1::CommitRequest commit;
      commit.set_sync_id(request.sync_id());
      commit.set_version(request.version());
      *commit.mutable_endpoints() = request.commit_endpoints();
      RETURN_IF_ERROR(Commit(commit, absl::InfiniteFuture()));
      response.set_committed(true);
    }
    absl::MutexLock lock(&agents_->mu);
    if (agents_->inference.count(address_) != 0) {
      response.set_bytes_received(16);
      response.set_tensors_received(1);
    }
    return response;
  }
  absl::Status Commit(const v1::CommitRequest& request, absl::Time) override {
    absl::MutexLock lock(&agents_->mu);
    if (agents_->failing_commits.count(address_) != 0) {
      const size_t before = agents_->commits.size();
      const auto another_committed = [&] { return agents_->commits.size() > before; };
      agents_->mu.AwaitWithTimeout(absl::Condition(&another_committed), absl::Seconds(5));
      return absl::UnavailableError(absl::StrCat("Commit on agent ", address_, ": unreachable"));
    }
    agents_->commits.emplace_back(address_, request);
    if (!agents_->mkdir_on_commit.empty()) {
      mkdir(agents_->mkdir_on_commit.c_str(), 0755);
      agents_->mkdir_on_commit.clear();
    }
    return absl::OkStatus();
  }
  absl::Status DestroyGroups(const v1::DestroyGroupsRequest&, absl::Time) override {
    return absl::OkStatus();
  }
  absl::Status Abort(const v1::AbortRequest&, absl::Time) override { return absl::OkStatus(); }
  // One base weight per endpoint named.
  absl::StatusOr<v1::LoraResponse> Lora(const v1::LoraRequest& request, absl::Time) override {
    absl::MutexLock lock(&agents_->mu);
    agents_->lora.emplace_back(address_, request);
    agents_->calls.push_back(absl::StrCat(address_, " ", v1::LoraAction_Name(request.action())));
    if (agents_->failing_lora.count({address_, request.action()}) != 0) {
      return absl::ResourceExhaustedError(absl::StrCat("Lora on agent ", address_, ": no memory"));
    }
    v1::LoraResponse response;
    response.set_base_weights(request.endpoints_size());
    return response;
  }
  void CancelAll() override {}

 private:
  FakeAgents* const agents_;
  const std::string address_;
};

v1::RegisterEndpointRequest InferenceEndpoint(const std::string& agent_id, int replica) {
  v1::RegisterEndpointRequest request = Endpoint(agent_id, "vllm", v1::ROLE_INFERENCE);
  request.mutable_endpoint()->set_rank(replica);
  request.mutable_endpoint()->set_replica(replica);
  return request;
}

// A coordinator minus its server: a trainer rank on agent 0 and two TP1
// inference replicas on agents 1 and 2 (127.0.0.1:7001 and :7002), group "g".
struct Coordinator {
  explicit Coordinator(StateFile* state = nullptr)
      : syncs(&agents, &endpoints, &executor, &errors, state) {
    for (int i = 0; i < 3; ++i) ids.push_back(*agents.Register(Agent(i)));
    fakes.inference = {Agent(1).address(), Agent(2).address()};
    REQUIRE(endpoints.Register(Endpoint(ids[0], "trainer", v1::ROLE_TRAINER)).ok());
    REQUIRE(endpoints.Register(InferenceEndpoint(ids[1], 0)).ok());
    REQUIRE(endpoints.Register(InferenceEndpoint(ids[2], 1)).ok());
  }

  absl::StatusOr<v1::SyncResponse> Sync() {
    v1::SyncRequest request;
    request.set_group("g");
    return syncs.Sync(request, absl::Now() + absl::Seconds(10));
  }
  // The version each inference endpoint holds as ListEndpoints shows it.
  std::vector<int64_t> Versions() {
    std::vector<int64_t> out;
    for (const EndpointRecord& record : endpoints.Model("vllm")) out.push_back(record.version);
    return out;
  }
  // The version each inference endpoint's bytes may be mixed with (0: none).
  std::vector<int64_t> Interrupted() {
    std::vector<int64_t> out;
    for (const EndpointRecord& record : endpoints.Model("vllm")) {
      out.push_back(record.interrupted_version);
    }
    return out;
  }
  std::vector<int64_t> HistoryVersions() {
    std::vector<int64_t> out;
    absl::StatusOr<std::vector<v1::SyncResponse>> history = syncs.History("g");
    REQUIRE(history.ok());
    for (const v1::SyncResponse& sync : *history) out.push_back(sync.version());
    return out;
  }

  FakeAgents fakes;
  AgentRegistry agents;
  EndpointRegistry endpoints{&agents};
  ErrorChannel errors;
  AgentClientPool clients{
      [this](const std::string& address) { return std::make_shared<FakeAgent>(&fakes, address); }};
  SyncExecutor executor{&clients};
  SyncManager syncs;
  std::vector<std::string> ids;
};

v1::SyncGroupSpec GroupG() {
  v1::SyncGroupSpec spec;
  spec.set_name("g");
  spec.set_src_model("trainer");
  spec.set_dst_model("vllm");
  return spec;
}

std::string TempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/syncs-XXXXXX");
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

TEST_CASE("A sync that fails on one agent names it; endpoints that received all commit",
          "[sync_manager]") {
  Coordinator c;
  REQUIRE(c.syncs.CreateGroup(GroupG()).ok());
  absl::StatusOr<v1::SyncResponse> first = c.Sync();
  INFO(first.status().ToString());
  REQUIRE(first.ok());
  CHECK(first->version() == 1);
  CHECK(c.Versions() == std::vector<int64_t>{1, 1});

  {
    absl::MutexLock lock(&c.fakes.mu);
    c.fakes.failing_commits.insert(Agent(2).address());
  }
  absl::StatusOr<v1::SyncResponse> failed = c.Sync();
  INFO(failed.status().ToString());
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(failed.status().message(),
                          absl::StrCat("Commit on agent ", Agent(2).address(), ": unreachable")));
  CHECK(absl::StrContains(failed.status().message(),
                          "these endpoints received all their bytes and hold version 2 all the "
                          "same: vllm rank 0"));
  // Rank 0's agent committed version 2; rank 1's did not, and may hold part of it.
  CHECK(c.Versions() == std::vector<int64_t>{2, 1});
  CHECK(c.Interrupted() == std::vector<int64_t>{0, 2});
  CHECK(c.HistoryVersions() == std::vector<int64_t>{1});

  {
    absl::MutexLock lock(&c.fakes.mu);
    c.fakes.failing_commits.clear();
  }
  // Version 2 is taken (an endpoint holds it): the next sync is 3.
  absl::StatusOr<v1::SyncResponse> next = c.Sync();
  INFO(next.status().ToString());
  REQUIRE(next.ok());
  CHECK(next->version() == 3);
  CHECK(c.Versions() == std::vector<int64_t>{3, 3});
  CHECK(c.Interrupted() == std::vector<int64_t>{0, 0});
  CHECK(c.HistoryVersions() == std::vector<int64_t>{1, 3});
}

TEST_CASE("Groups, versions and history survive a restart through the state file",
          "[sync_manager]") {
  const std::string path = TempDir() + "/state";
  {
    absl::StatusOr<std::unique_ptr<StateFile>> state = StateFile::Open(path, 64);
    REQUIRE(state.ok());
    Coordinator c(state->get());
    REQUIRE(c.syncs.Restore().ok());
    REQUIRE(c.syncs.CreateGroup(GroupG()).ok());
    REQUIRE(c.Sync().ok());
    REQUIRE(c.Sync().ok());
    // A sync that fails part-way takes its version along.
    {
      absl::MutexLock lock(&c.fakes.mu);
      c.fakes.failing_commits.insert(Agent(1).address());
    }
    REQUIRE_FALSE(c.Sync().ok());
  }
  absl::StatusOr<std::unique_ptr<StateFile>> state = StateFile::Open(path, 64);
  INFO(state.status().ToString());
  REQUIRE(state.ok());
  Coordinator c(state->get());
  REQUIRE(c.syncs.Restore().ok());
  CHECK(c.HistoryVersions() == std::vector<int64_t>{1, 2});
  CHECK(c.syncs.CreateGroup(GroupG()).ok());  // The same spec again is fine.
  v1::SyncGroupSpec other = GroupG();
  other.set_dst_model("other");
  CHECK(c.syncs.CreateGroup(other).code() == absl::StatusCode::kAlreadyExists);
  v1::SyncRequest dry_run;
  dry_run.set_group("g");
  dry_run.set_dry_run(true);
  absl::StatusOr<v1::SyncResponse> dry = c.syncs.Sync(dry_run, absl::Now() + absl::Seconds(10));
  REQUIRE(dry.ok());
  CHECK(dry->version() == 2);  // What every endpoint committed.
  absl::StatusOr<v1::SyncResponse> next = c.Sync();
  INFO(next.status().ToString());
  REQUIRE(next.ok());
  CHECK(next->version() == 4);
  CHECK(c.HistoryVersions() == std::vector<int64_t>{1, 2, 4});
  const std::vector<v1::SyncGroupState> saved = (*state)->Groups();
  REQUIRE(saved.size() == 1);
  CHECK(saved[0].committed_version() == 4);
  CHECK(saved[0].issued_version() == 4);
  CHECK(saved[0].history_size() == 3);
}

TEST_CASE("A state write that fails fails the sync before any agent commits", "[sync_manager]") {
  const std::string path = TempDir() + "/state";
  absl::StatusOr<std::unique_ptr<StateFile>> state = StateFile::Open(path, 64);
  REQUIRE(state.ok());
  Coordinator c(state->get());
  REQUIRE(c.syncs.CreateGroup(GroupG()).ok());
  REQUIRE(c.Sync().ok());
  const size_t commits = c.fakes.commits.size();

  // A directory where the temporary file goes makes every write fail.
  REQUIRE(mkdir((path + ".tmp").c_str(), 0755) == 0);
  absl::StatusOr<v1::SyncResponse> failed = c.Sync();
  INFO(failed.status().ToString());
  REQUIRE_FALSE(failed.ok());
  CHECK(absl::StrContains(failed.status().message(), "version 2 not committed"));
  CHECK(absl::StrContains(failed.status().message(), path));
  CHECK(c.fakes.commits.size() == commits);  // No agent was told to commit.
  CHECK(c.Versions() == std::vector<int64_t>{1, 1});
  CHECK(c.Interrupted() == std::vector<int64_t>{0, 0});  // No byte moved.
  v1::SyncGroupSpec h = GroupG();
  h.set_name("h");
  const absl::Status created = c.syncs.CreateGroup(h);
  CHECK_FALSE(created.ok());
  CHECK(absl::StrContains(created.message(), path));
  CHECK(c.syncs.GetPlan("h").status().code() == absl::StatusCode::kNotFound);

  REQUIRE(rmdir((path + ".tmp").c_str()) == 0);
  absl::StatusOr<v1::SyncResponse> next = c.Sync();
  REQUIRE(next.ok());
  CHECK(next->version() == 2);  // Nobody ever held 2: it is not skipped.
  CHECK(c.Versions() == std::vector<int64_t>{2, 2});
}

TEST_CASE("A committed sync whose history entry cannot be recorded stands, on the error channel",
          "[sync_manager]") {
  const std::string path = TempDir() + "/state";
  absl::StatusOr<std::unique_ptr<StateFile>> state = StateFile::Open(path, 64);
  REQUIRE(state.ok());
  Coordinator c(state->get());
  REQUIRE(c.syncs.CreateGroup(GroupG()).ok());
  REQUIRE(c.Sync().ok());
  std::shared_ptr<ErrorChannel::Subscription> errors = c.errors.Subscribe();
  {
    // Every write after the commit fails.
    absl::MutexLock lock(&c.fakes.mu);
    c.fakes.mkdir_on_commit = path + ".tmp";
  }
  absl::StatusOr<v1::SyncResponse> committed = c.Sync();
  INFO(committed.status().ToString());
  REQUIRE(committed.ok());
  CHECK(committed->version() == 2);
  CHECK(c.Versions() == std::vector<int64_t>{2, 2});
  std::optional<v1::ErrorEvent> event = errors->Next(absl::Seconds(1));
  REQUIRE(event.has_value());
  CHECK(event->group() == "g");
  CHECK(event->version() == 2);
  CHECK(absl::StrContains(event->message(), "history entry was not recorded"));
  CHECK(absl::StrContains(event->message(), path));
  // The version was recorded before any agent was asked to commit it.
  CHECK((*state)->Groups()[0].issued_version() == 2);
  CHECK((*state)->Groups()[0].history_size() == 1);

  REQUIRE(rmdir((path + ".tmp").c_str()) == 0);
  REQUIRE(c.Sync().ok());
  // The next write carries the entry that was missing.
  REQUIRE((*state)->Groups()[0].history_size() == 3);
  CHECK((*state)->Groups()[0].history(1).version() == 2);
  c.errors.Unsubscribe(errors);
}

TEST_CASE("A state file with an invalid group is refused, naming it", "[sync_manager]") {
  const std::string path = TempDir() + "/state";
  v1::CoordinatorState saved;
  v1::SyncGroupState* group = saved.add_groups();
  *group->mutable_spec() = GroupG();
  group->mutable_spec()->set_dst_model("trainer");  // src == dst.
  {
    std::ofstream out(path, std::ios::binary);
    out << StateFile::Encode(saved);
  }
  absl::StatusOr<std::unique_ptr<StateFile>> state = StateFile::Open(path, 64);
  REQUIRE(state.ok());
  Coordinator c(state->get());
  const absl::Status restored = c.syncs.Restore();
  INFO(restored.ToString());
  CHECK(restored.code() == absl::StatusCode::kDataLoss);
  CHECK(absl::StrContains(restored.message(), absl::StrCat("state file ", path, ": group 'g'")));
}

TEST_CASE("A sync reports its progress: phases in order, bytes as agents finish",
          "[sync_manager]") {
  Coordinator c;
  REQUIRE(c.syncs.CreateGroup(GroupG()).ok());
  std::vector<v1::SyncProgress> events;
  v1::SyncRequest request;
  request.set_group("g");
  absl::StatusOr<v1::SyncResponse> report =
      c.syncs.Sync(request, absl::Now() + absl::Seconds(10),
                   [&events](const v1::SyncProgress& event) { events.push_back(event); });
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  // Planning, setting up (first sync), transferring, one event per agent, done.
  REQUIRE(events.size() == 7);
  CHECK(events[0].phase() == v1::SYNC_PHASE_PLANNING);
  CHECK(events[1].phase() == v1::SYNC_PHASE_SETTING_UP);
  CHECK(events[1].agents_total() == 3);
  CHECK(events[1].bytes_total() == 32);
  CHECK(events[2].phase() == v1::SYNC_PHASE_TRANSFERRING);
  CHECK(events[2].version() == 1);
  CHECK(events[2].bytes_done() == 0);
  for (int i = 3; i < 6; ++i) {
    CHECK(events[i].phase() == v1::SYNC_PHASE_TRANSFERRING);
    CHECK(events[i].agents_done() == i - 2);
  }
  CHECK(events[5].bytes_done() == 32);
  CHECK(events[6].phase() == v1::SYNC_PHASE_DONE);
  CHECK(events[6].report().SerializeAsString() == report->SerializeAsString());
  for (size_t i = 1; i < events.size(); ++i) {
    CHECK(events[i].group() == "g");
    CHECK(events[i].elapsed_ms() >= events[i - 1].elapsed_ms());
  }

  // An unknown group fails before any event.
  events.clear();
  request.set_group("nope");
  CHECK(c.syncs
            .Sync(request, absl::Now() + absl::Seconds(10),
                  [&events](const v1::SyncProgress& event) { events.push_back(event); })
            .status()
            .code() == absl::StatusCode::kNotFound);
  CHECK(events.empty());
}

TEST_CASE("Groups are listed with their version and how their last sync went", "[sync_manager]") {
  Coordinator c;
  REQUIRE(c.syncs.CreateGroup(GroupG()).ok());
  v1::SyncGroupSpec other = GroupG();
  other.set_name("a-missing");
  other.set_dst_model("nobody");
  REQUIRE(c.syncs.CreateGroup(other).ok());
  std::vector<v1::SyncGroupStatus> groups = c.syncs.ListGroups();
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].spec().name() == "a-missing");  // By name.
  CHECK(groups[1].spec().SerializeAsString() == GroupG().SerializeAsString());
  CHECK(groups[1].last_sync_unix_ms() == 0);
  CHECK_FALSE(groups[1].has_last_report());

  const int64_t before = absl::ToUnixMillis(absl::Now());
  REQUIRE(c.Sync().ok());
  REQUIRE(c.Sync().ok());
  v1::SyncRequest missing;
  missing.set_group("a-missing");
  const absl::Status failed = c.syncs.Sync(missing, absl::Now() + absl::Seconds(10)).status();
  REQUIRE_FALSE(failed.ok());
  groups = c.syncs.ListGroups();
  CHECK(groups[1].version() == 2);
  CHECK_FALSE(groups[1].syncing());
  CHECK(groups[1].last_sync_unix_ms() >= before);
  CHECK(groups[1].last_sync_code() == 0);
  CHECK(groups[1].last_report().version() == 2);
  CHECK(groups[0].version() == 0);
  CHECK(groups[0].last_sync_code() == static_cast<int>(failed.code()));
  CHECK(groups[0].last_sync_error() == failed.message());
  CHECK_FALSE(groups[0].has_last_report());
}

// Re-registers the endpoints of `c` with a 2x2 float32 weight "w" (the 16
// bytes the fakes report), the trainer's with a rank-1 LoRA adapter of it.
void RegisterAdapters(Coordinator& c) {
  const auto square = [](v1::RegisterEndpointRequest request) {
    v1::ParameterSpec* w = request.mutable_parameters(0);
    w->clear_shape();
    w->add_shape(2);
    w->add_shape(2);
    return request;
  };
  v1::RegisterEndpointRequest trainer = square(Endpoint(c.ids[0], "trainer", v1::ROLE_TRAINER));
  for (auto [role, rows, columns] :
       {std::tuple{v1::LORA_ROLE_A, 1, 2}, std::tuple{v1::LORA_ROLE_B, 2, 1}}) {
    v1::ParameterSpec* adapter = trainer.add_parameters();
    adapter->set_name(v1::LoraRole_Name(role));
    adapter->set_dtype(v1::DTYPE_FLOAT32);
    adapter->add_shape(rows);
    adapter->add_shape(columns);
    adapter->mutable_lora()->set_role(role);
    adapter->mutable_lora()->set_base("w");
    adapter->mutable_lora()->set_scale(2);
  }
  REQUIRE(c.endpoints.Register(trainer).ok());
  REQUIRE(c.endpoints.Register(square(InferenceEndpoint(c.ids[1], 0))).ok());
  REQUIRE(c.endpoints.Register(square(InferenceEndpoint(c.ids[2], 1))).ok());
}

// The calls the fakes saw since the last one, emptied.
std::vector<std::string> TakeCalls(Coordinator& c) {
  absl::MutexLock lock(&c.fakes.mu);
  return std::exchange(c.fakes.calls, {});
}

const std::string kTrainerAgent = Agent(0).address();

TEST_CASE("A MERGE sync merges the trainer's adapters before its transfer, restores them after",
          "[sync_manager][lora]") {
  Coordinator c;
  RegisterAdapters(c);
  REQUIRE(c.syncs.CreateGroup(GroupG()).ok());  // lora_mode unset: MERGE.
  absl::StatusOr<v1::SyncResponse> synced = c.Sync();
  INFO(synced.status().ToString());
  REQUIRE(synced.ok());
  CHECK(synced->version() == 1);
  CHECK(synced->bytes() == 32);  // The bases; the adapters do not sync.
  CHECK(synced->lora_base_weights() == 1);
  CHECK(synced->lora_merge_ms() > 0);
  CHECK(synced->lora_restore_ms() > 0);
  // The merge before any task, the restore after every commit (in band).
  const std::vector<std::string> calls = TakeCalls(c);
  REQUIRE(calls.size() == 5);
  CHECK(calls.front() == kTrainerAgent + " LORA_ACTION_MERGE");
  CHECK(calls.back() == kTrainerAgent + " LORA_ACTION_RESTORE");
  absl::MutexLock lock(&c.fakes.mu);
  REQUIRE(c.fakes.lora.size() == 2);  // The inference agents merge nothing.
  const v1::LoraRequest& merge = c.fakes.lora[0].second;
  REQUIRE(merge.endpoints_size() == 1);
  CHECK(merge.endpoints(0).model() == "trainer");
  CHECK(merge.endpoints(0).rank() == 0);
  const v1::LoraRequest& restore = c.fakes.lora[1].second;
  CHECK(restore.action() == v1::LORA_ACTION_RESTORE);
  CHECK(restore.endpoints().empty());
  CHECK(restore.sync_id() == merge.sync_id());
  REQUIRE(c.fakes.commits.size() == 2);
  CHECK(c.fakes.commits[0].second.sync_id() == merge.sync_id());
}

TEST_CASE("A failed merge fails the sync before any byte moves, and restores",
          "[sync_manager][lora]") {
  Coordinator c;
  RegisterAdapters(c);
  REQUIRE(c.syncs.CreateGroup(GroupG()).ok());
  REQUIRE(c.Sync().ok());
  TakeCalls(c);
  {
    absl::MutexLock lock(&c.fakes.mu);
    c.fakes.failing_lora.insert({kTrainerAgent, v1::LORA_ACTION_MERGE});
  }
  const absl::Status failed = c.Sync().status();
  INFO(failed.ToString());
  CHECK(failed.code() == absl::StatusCode::kResourceExhausted);
  CHECK(absl::StrContains(failed.message(),
                          "version 2 not committed: merging the trainer's LoRA adapters failed, no "
                          "endpoint was written"));
  CHECK(absl::StrContains(
      failed.message(),
      absl::StrCat("LoRA merge failed on 1 of 1 agents: agent ", c.ids[0], " at ", kTrainerAgent,
                   " (trainer rank 0): Lora on agent ", kTrainerAgent, ": no memory")));
  CHECK(TakeCalls(c) == std::vector<std::string>{kTrainerAgent + " LORA_ACTION_MERGE",
                                                 kTrainerAgent + " LORA_ACTION_RESTORE"});
  CHECK(c.Versions() == std::vector<int64_t>{1, 1});
  CHECK(c.Interrupted() == std::vector<int64_t>{0, 0});
  {
    absl::MutexLock lock(&c.fakes.mu);
    c.fakes.failing_lora.clear();
  }
  absl::StatusOr<v1::SyncResponse> next = c.Sync();
  REQUIRE(next.ok());
  CHECK(next->version() == 3);
}

TEST_CASE(
    "A restore that fails after the commit: the version stands, the error says whose "
    "weights stay merged",
    "[sync_manager][lora]") {
  Coordinator c;
  RegisterAdapters(c);
  REQUIRE(c.syncs.CreateGroup(GroupG()).ok());
  std::shared_ptr<ErrorChannel::Subscription> errors = c.errors.Subscribe();
  {
    absl::MutexLock lock(&c.fakes.mu);
    c.fakes.failing_lora.insert({kTrainerAgent, v1::LORA_ACTION_RESTORE});
  }
  const absl::Status failed = c.Sync().status();
  INFO(failed.ToString());
  CHECK(failed.code() == absl::StatusCode::kInternal);
  CHECK(absl::StrContains(
      failed.message(),
      absl::StrCat("version 1 committed (every inference endpoint holds it), but restoring the "
                   "trainer's LoRA-merged base weights failed: LoRA restore failed on 1 of 1 "
                   "agents: agent ",
                   c.ids[0], " at ", kTrainerAgent, " (trainer rank 0)")));
  CHECK(absl::StrContains(failed.message(), "base weights hold the merged values"));
  CHECK(c.Versions() == std::vector<int64_t>{1, 1});
  CHECK(c.HistoryVersions() == std::vector<int64_t>{1});
  CHECK(c.syncs.ListGroups()[0].version() == 1);
  std::optional<v1::ErrorEvent> event = errors->Next(absl::Seconds(1));
  REQUIRE(event.has_value());
  CHECK(event->code() == static_cast<int>(absl::StatusCode::kInternal));
  CHECK(event->agent_id() == c.ids[0]);
  CHECK(event->group() == "g");
  CHECK(event->version() == 1);
  c.errors.Unsubscribe(errors);

  // A failed transfer restores too; a restore failing then adds to its error.
  TakeCalls(c);
  {
    absl::MutexLock lock(&c.fakes.mu);
    c.fakes.failing_commits.insert(Agent(2).address());
  }
  const absl::Status both = c.Sync().status();
  INFO(both.ToString());
  CHECK(both.code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(both.message(),
                          absl::StrCat("Commit on agent ", Agent(2).address(), ": unreachable")));
  CHECK(absl::StrContains(
      both.message(),
      "; restoring the trainer's LoRA-merged base weights also failed: LoRA restore failed"));
  const std::vector<std::string> calls = TakeCalls(c);
  REQUIRE_FALSE(calls.empty());
  CHECK(calls.back() == kTrainerAgent + " LORA_ACTION_RESTORE");
}

TEST_CASE("Dry runs and groups without adapters send no LoRA request", "[sync_manager][lora]") {
  Coordinator plain;
  REQUIRE(plain.syncs.CreateGroup(GroupG()).ok());
  absl::StatusOr<v1::SyncResponse> synced = plain.Sync();
  REQUIRE(synced.ok());
  CHECK(synced->lora_base_weights() == 0);
  CHECK(synced->lora_merge_ms() == 0);

  Coordinator c;
  RegisterAdapters(c);
  REQUIRE(c.syncs.CreateGroup(GroupG()).ok());
  v1::SyncRequest dry_run;
  dry_run.set_group("g");
  dry_run.set_dry_run(true);
  REQUIRE(c.syncs.Sync(dry_run, absl::Now() + absl::Seconds(10)).ok());
  absl::MutexLock plain_lock(&plain.fakes.mu);
  absl::MutexLock lock(&c.fakes.mu);
  CHECK(plain.fakes.lora.empty());
  CHECK(c.fakes.lora.empty());
}

TEST_CASE("lora_mode is validated when a group is created", "[sync_manager][lora]") {
  Coordinator c;
  v1::SyncGroupSpec spec = GroupG();
  spec.set_lora_mode(v1::LORA_MODE_ADAPTERS_ONLY);
  CHECK(c.syncs.CreateGroup(spec).ok());
  spec.set_name("h");
  spec.set_lora_mode(static_cast<v1::LoraMode>(7));
  const absl::Status invalid = c.syncs.CreateGroup(spec);
  CHECK(invalid.code() == absl::StatusCode::kInvalidArgument);
  CHECK(invalid.message() ==
        "group.lora_mode is 7; accepted: LORA_MODE_MERGE (1), LORA_MODE_ADAPTERS_ONLY (2), or "
        "unset for merge");
  // The trainer registered no adapter: an adapters-only sync has nothing to sync.
  const absl::Status nothing = c.syncs.GetPlan("g").status();
  CHECK(nothing.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(nothing.message(), "sync group 'g' has lora_mode"));
}

}  // namespace
}  // namespace paramsync::coordinator
