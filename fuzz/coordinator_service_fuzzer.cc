// Fuzz target: the Coordinator service's handlers (coordinator/service/), called
// directly on an in-process CoordinatorService wired as CoordinatorServer wires
// it (registries, error channel, executor, sync manager), with a fresh
// coordinator for every input. The input is a sequence of calls (fuzz_calls.h);
// each selector byte picks the RPC (low 4 bits) and, for Sync, how the agents
// answer (bits 4-6).
//
// Agents: the executor's client pool gets fake agents that answer at once (OK,
// or the failure the selector names), so Sync runs through every phase without
// a network and cannot wait on a peer. They report no bytes received, so a
// sync that gets that far ends INTERNAL ("agents wrote 0 bytes") rather than
// committing. Agent ids are random per coordinator, so
// a request's agent_id "@N" stands for the id the N-th RegisterAgent call of
// the input got.
//
// Not called: WatchErrors. It streams until its client cancels or the
// coordinator shuts down (it needs a live call's ServerWriter and context);
// what it sends is what ReportError and failed syncs publish, both fuzzed here.
//
// Checked: no crash, hang, leak or sanitizer report; no handler returns
// UNKNOWN (an escaped exception or unconverted error).
//
// Corpus: fuzz/corpus/coordinator_service_fuzzer/.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/errors/error_channel.h"
#include "coordinator/executor/agent_client.h"
#include "coordinator/executor/sync_executor.h"
#include "coordinator/registry/agent_registry.h"
#include "coordinator/registry/endpoint_registry.h"
#include "coordinator/service/coordinator_service.h"
#include "coordinator/sync/sync_manager.h"
#include "fuzz/fuzz_calls.h"

namespace paramsync::fuzz {
namespace {

namespace v1 = ::paramsync::v1;
using coordinator::AgentClientInterface;

enum Rpc : uint8_t {
  kRegisterAgent,
  kHeartbeat,
  kRegisterEndpoint,
  kCreateSyncGroup,
  kGetPlan,
  kSync,
  kListAgents,
  kListEndpoints,
  kReportError,
  kNumRpcs,
};

// How the fake agents answer during one Sync (selector bits 4-6).
enum class AgentBehavior : uint8_t {
  kOk,
  kSetupFails,
  kRunFails,
  kRunTimesOut,
  kGroupIdsFail,
  kGroupIdsWrongCount,
  kCount,
};

struct FakeAgents {
  AgentBehavior behavior = AgentBehavior::kOk;
};

// An agent that does what it is told at once.
class FakeAgent final : public AgentClientInterface {
 public:
  FakeAgent(const FakeAgents* agents, std::string address)
      : agents_(agents), address_(std::move(address)) {}

  absl::StatusOr<v1::NewGroupIdsResponse> NewGroupIds(const v1::NewGroupIdsRequest& request,
                                                      absl::Time) override {
    if (Is(AgentBehavior::kGroupIdsFail)) return Unavailable("NewGroupIds");
    v1::NewGroupIdsResponse response;
    const int count =
        Is(AgentBehavior::kGroupIdsWrongCount) ? request.count() + 1 : request.count();
    for (int i = 0; i < count; ++i) response.add_ids(absl::StrCat("id-", address_, "-", i));
    return response;
  }
  absl::Status SetupGroups(const v1::SetupGroupsRequest&, absl::Time) override {
    return Is(AgentBehavior::kSetupFails) ? Unavailable("SetupGroups") : absl::OkStatus();
  }
  absl::StatusOr<v1::RunTasksResponse> RunTasks(const v1::RunTasksRequest&, absl::Time) override {
    if (Is(AgentBehavior::kRunFails)) return Unavailable("RunTasks");
    if (Is(AgentBehavior::kRunTimesOut)) {
      return absl::DeadlineExceededError(absl::StrCat("agent ", address_, ": transfer timed out"));
    }
    v1::RunTasksResponse response;
    response.add_stage_duration_ms(0.5);
    return response;
  }
  absl::Status Commit(const v1::CommitRequest&, absl::Time) override { return absl::OkStatus(); }
  absl::Status DestroyGroups(const v1::DestroyGroupsRequest&, absl::Time) override {
    return absl::OkStatus();
  }
  absl::Status Abort(const v1::AbortRequest&, absl::Time) override { return absl::OkStatus(); }
  void CancelAll() override {}

 private:
  bool Is(AgentBehavior behavior) const { return agents_->behavior == behavior; }
  absl::Status Unavailable(const char* rpc) const {
    return absl::UnavailableError(absl::StrCat("agent ", address_, " unreachable (", rpc, ")"));
  }

  const FakeAgents* const agents_;
  const std::string address_;
};

// One coordinator, wired as coordinator/coordinator_server.cc wires it, minus
// the gRPC server.
struct Coordinator {
  FakeAgents fake_agents;
  coordinator::AgentRegistry agents;
  coordinator::EndpointRegistry endpoints{&agents};
  coordinator::ErrorChannel errors;
  coordinator::AgentClientPool agent_clients{
      [this](const std::string& address) -> std::shared_ptr<AgentClientInterface> {
        return std::make_shared<FakeAgent>(&fake_agents, address);
      }};
  coordinator::SyncExecutor executor{&agent_clients};
  coordinator::SyncManager syncs{&agents, &endpoints, &executor, &errors};
  coordinator::CoordinatorService service{&agents, &endpoints, &syncs, &errors, absl::Seconds(1)};
  std::vector<std::string> agent_ids;  // In registration order, for "@N".

  // "@N" -> the id of the N-th registered agent (when there is one).
  void ResolveAgentId(std::string* id) const {
    if (id->size() != 2 || (*id)[0] != '@') return;
    const size_t n = static_cast<unsigned char>((*id)[1]) - '0';
    if (n < agent_ids.size()) *id = agent_ids[n];
  }
};

void RunCall(Coordinator& c, const Call& call) {
  grpc::ServerContext context;
  switch ((call.selector & 0x0f) % kNumRpcs) {
    case kRegisterAgent: {
      v1::RegisterAgentRequest request;
      v1::RegisterAgentResponse response;
      if (!ParseRequest(call, request)) return;
      const grpc::Status status = c.service.RegisterAgent(&context, &request, &response);
      CheckHandlerStatus("RegisterAgent", status);
      if (status.ok()) c.agent_ids.push_back(response.agent_id());
      return;
    }
    case kHeartbeat: {
      v1::HeartbeatRequest request;
      v1::HeartbeatResponse response;
      if (!ParseRequest(call, request)) return;
      c.ResolveAgentId(request.mutable_agent_id());
      CheckHandlerStatus("Heartbeat", c.service.Heartbeat(&context, &request, &response));
      return;
    }
    case kRegisterEndpoint: {
      v1::RegisterEndpointRequest request;
      v1::RegisterEndpointResponse response;
      if (!ParseRequest(call, request)) return;
      c.ResolveAgentId(request.mutable_agent_id());
      CheckHandlerStatus("RegisterEndpoint",
                         c.service.RegisterEndpoint(&context, &request, &response));
      return;
    }
    case kCreateSyncGroup: {
      v1::CreateSyncGroupRequest request;
      v1::CreateSyncGroupResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("CreateSyncGroup",
                         c.service.CreateSyncGroup(&context, &request, &response));
      return;
    }
    case kGetPlan: {
      v1::GetPlanRequest request;
      v1::GetPlanResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("GetPlan", c.service.GetPlan(&context, &request, &response));
      return;
    }
    case kSync: {
      v1::SyncRequest request;
      v1::SyncResponse response;
      if (!ParseRequest(call, request)) return;
      c.fake_agents.behavior = static_cast<AgentBehavior>(
          ((call.selector >> 4) & 7) % static_cast<uint8_t>(AgentBehavior::kCount));
      CheckHandlerStatus("Sync", c.service.Sync(&context, &request, &response));
      return;
    }
    case kListAgents: {
      v1::ListAgentsRequest request;
      v1::ListAgentsResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("ListAgents", c.service.ListAgents(&context, &request, &response));
      return;
    }
    case kListEndpoints: {
      v1::ListEndpointsRequest request;
      v1::ListEndpointsResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("ListEndpoints", c.service.ListEndpoints(&context, &request, &response));
      return;
    }
    case kReportError: {
      v1::ReportErrorRequest request;
      v1::ReportErrorResponse response;
      if (!ParseRequest(call, request)) return;
      c.ResolveAgentId(request.mutable_event()->mutable_agent_id());
      CheckHandlerStatus("ReportError", c.service.ReportError(&context, &request, &response));
      return;
    }
  }
}

// ---- Seeds ------------------------------------------------------------------

v1::RegisterAgentRequest Agent(int i, bool gpu) {
  v1::RegisterAgentRequest request;
  v1::AgentInfo* agent = request.mutable_agent();
  agent->set_host(gpu ? "node0" : absl::StrCat("host", i));
  agent->set_address(absl::StrCat("10.0.0.", i, ":7000"));
  agent->set_device(gpu ? absl::StrCat("GPU-", i) : absl::StrCat("cpu:", i));
  agent->set_gpu_index(gpu ? i : -1);
  agent->set_device_kind(gpu ? v1::DEVICE_KIND_GPU : v1::DEVICE_KIND_HOST);
  return request;
}

// A rank of a trainer (tp x dp) or of an inference model (tp, `replica`), on
// the agent registered `agent`-th, holding a column-split weight and a norm.
v1::RegisterEndpointRequest Endpoint(int agent, const std::string& model, bool trainer, int tp,
                                     int rank, int replica = 0, int dp = 1) {
  v1::RegisterEndpointRequest request;
  request.set_agent_id(absl::StrCat("@", agent));
  v1::EndpointSpec* e = request.mutable_endpoint();
  e->set_model(model);
  e->set_role(trainer ? v1::ROLE_TRAINER : v1::ROLE_INFERENCE);
  e->set_rank(trainer ? rank : replica * tp + rank);
  e->set_replica(replica);
  e->set_local_rank(rank);
  v1::ParallelConfig* p = e->mutable_parallel();
  p->set_tp_size(tp);
  p->set_pp_size(1);
  p->set_ep_size(1);
  p->set_dp_size(trainer ? dp : 1);
  p->set_tp_rank(rank % tp);
  p->set_dp_rank(trainer ? rank / tp : 0);
  v1::ParameterSpec* w = request.add_parameters();
  w->set_name("layer.0.weight");
  w->set_dtype(v1::DTYPE_BFLOAT16);
  w->add_shape(64 / tp);
  w->add_shape(32);
  w->set_tp_split_dim(0);
  v1::ParameterSpec* norm = request.add_parameters();
  norm->set_name("layer.0.norm");
  norm->set_dtype(v1::DTYPE_FLOAT32);
  norm->add_shape(32);
  return request;
}

v1::CreateSyncGroupRequest Group(const std::string& name, v1::CommType comm_type) {
  v1::CreateSyncGroupRequest request;
  v1::SyncGroupSpec* g = request.mutable_group();
  g->set_name(name);
  g->set_src_model("trainer");
  g->set_dst_model("vllm");
  g->set_comm_type(comm_type);
  return request;
}

template <typename Request>
Request Named(const std::string& value) {
  Request request;
  request.set_group(value);
  return request;
}

uint8_t SyncSelector(AgentBehavior behavior) {
  return static_cast<uint8_t>(kSync | (static_cast<uint8_t>(behavior) << 4));
}

std::vector<std::pair<std::string, std::string>> Seeds() {
  std::vector<std::pair<std::string, std::string>> seeds;
  v1::SyncRequest dry_run = Named<v1::SyncRequest>("g");
  dry_run.set_dry_run(true);
  dry_run.set_warmup(true);
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_agent_id("@0");
  v1::ReportErrorRequest report;
  report.mutable_event()->set_agent_id("@1");
  report.mutable_event()->set_code(14);
  report.mutable_event()->set_message("transfer failed");
  v1::ListEndpointsRequest list_vllm;
  list_vllm.set_model("vllm");

  {  // TP1 -> TP1 on two host agents: every RPC once.
    SeedWriter w;
    w.Add(kRegisterAgent, Agent(0, false)).Add(kRegisterAgent, Agent(1, false));
    w.Add(kRegisterEndpoint, Endpoint(0, "trainer", true, 1, 0));
    w.Add(kRegisterEndpoint, Endpoint(1, "vllm", false, 1, 0));
    w.Add(kCreateSyncGroup, Group("g", v1::COMM_TYPE_BROADCAST));
    w.Add(kGetPlan, Named<v1::GetPlanRequest>("g"));
    w.Add(SyncSelector(AgentBehavior::kOk), Named<v1::SyncRequest>("g"));
    w.Add(SyncSelector(AgentBehavior::kRunFails), dry_run);
    w.Add(kHeartbeat, heartbeat).Add(kListAgents, v1::ListAgentsRequest());
    w.Add(kListEndpoints, v1::ListEndpointsRequest()).Add(kListEndpoints, list_vllm);
    w.Add(kReportError, report);
    seeds.emplace_back("seed_tp1_to_tp1", w.input());
  }
  {  // TP2 -> TP4 (two stages), colocated on 4 GPUs of one node.
    SeedWriter w;
    for (int i = 0; i < 4; ++i) w.Add(kRegisterAgent, Agent(i, true));
    for (int r = 0; r < 2; ++r) w.Add(kRegisterEndpoint, Endpoint(r, "trainer", true, 2, r));
    for (int r = 0; r < 4; ++r) w.Add(kRegisterEndpoint, Endpoint(r, "vllm", false, 4, r));
    w.Add(kCreateSyncGroup, Group("g", v1::COMM_TYPE_BROADCAST));
    w.Add(kGetPlan, Named<v1::GetPlanRequest>("g"));
    w.Add(SyncSelector(AgentBehavior::kOk), Named<v1::SyncRequest>("g"));
    w.Add(SyncSelector(AgentBehavior::kGroupIdsWrongCount), Named<v1::SyncRequest>("g"));
    seeds.emplace_back("seed_tp2_to_tp4_gpu", w.input());
  }
  {  // TP1 DP2 -> two TP1 replicas, p2p, separate host agents; agents failing.
    SeedWriter w;
    for (int i = 0; i < 4; ++i) w.Add(kRegisterAgent, Agent(i, false));
    for (int r = 0; r < 2; ++r) w.Add(kRegisterEndpoint, Endpoint(r, "trainer", true, 1, r, 0, 2));
    for (int r = 0; r < 2; ++r) w.Add(kRegisterEndpoint, Endpoint(2 + r, "vllm", false, 1, 0, r));
    w.Add(kCreateSyncGroup, Group("g", v1::COMM_TYPE_P2P));
    w.Add(SyncSelector(AgentBehavior::kRunTimesOut), Named<v1::SyncRequest>("g"));
    w.Add(SyncSelector(AgentBehavior::kSetupFails), Named<v1::SyncRequest>("g"));
    w.Add(kGetPlan, Named<v1::GetPlanRequest>("g"));
    seeds.emplace_back("seed_dp2_to_2_replicas_p2p", w.input());
  }
  {  // Regression: an inference rank of replica 10^9 made GetPlan list 10^9 missing ranks.
    SeedWriter w;
    w.Add(kRegisterAgent, Agent(0, false)).Add(kRegisterAgent, Agent(1, false));
    w.Add(kRegisterEndpoint, Endpoint(0, "trainer", true, 1, 0));
    w.Add(kRegisterEndpoint, Endpoint(1, "vllm", false, 1, 0, 1000000000));
    w.Add(kCreateSyncGroup, Group("g", v1::COMM_TYPE_BROADCAST));
    w.Add(kGetPlan, Named<v1::GetPlanRequest>("g"));
    seeds.emplace_back("regress_huge_replica", w.input());
  }
  return seeds;
}

}  // namespace
}  // namespace paramsync::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  paramsync::fuzz::QuietLogs();
  paramsync::fuzz::MaybeWriteSeeds(paramsync::fuzz::Seeds());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  paramsync::fuzz::Coordinator coordinator;
  for (const paramsync::fuzz::Call& call : paramsync::fuzz::SplitCalls(data, size)) {
    paramsync::fuzz::RunCall(coordinator, call);
  }
  return 0;
}
