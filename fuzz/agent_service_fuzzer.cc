// Fuzz target: the agent's services (agent/service/): AgentControl, AgentLocal
// and AgentData, on an in-process agent wired as agent/agent_server.cc wires a
// CPU agent (host memory, inbox, host transport, tensor registry, group table,
// task runner, digest runner, LoRA merger, coordinator link), fresh for every input. The input is a
// sequence of calls (fuzz_calls.h); each selector byte picks the RPC (low 4
// bits) and, for Push, how many times its chunk is streamed (bits 4-6).
//
// No network: one in-process gRPC server (no port) built at start-up serves
//   - a stand-in coordinator that accepts the agent's registration, endpoints
//     and error reports, so AgentLocal.RegisterEndpoint succeeds end to end;
//   - AgentData.Push and AgentControl.RunTasks, forwarded to the current
//     input's agent.
// The agent reaches "other agents" (any member address other than its own)
// through that server too, so its pushes land in its own AgentData service.
//
// Most handlers are called directly with a grpc::ServerContext on the stack.
// RunTasks and Push go through the in-process server with a deadline of
// kCallDeadline instead: their waits (for a peer's bytes, for a receive to be
// posted) end only at the call's deadline, which a stack ServerContext cannot
// carry (it would be the 10-minute cap). The target waits for every such
// handler to return, and aborts when one runs kHandlerGrace past its
// deadline: a hang.
//
// Not called: AgentLocal.Attach. It only looks the endpoint up (as GetVersion
// does) and then waits until its framework process disconnects, which needs a
// live call.
//
// Tensors: framework processes place them in shared memory; the target creates
// one region, named per process, that registrations naming kRegion point into
// (so concurrent fuzzer processes, -jobs=N, keep to their own).
//
// Checked: no crash, hang, leak or sanitizer report; no handler returns
// UNKNOWN (an escaped exception or unconverted error).
//
// Corpus: fuzz/corpus/agent_service_fuzzer/.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/coordinator_link.h"
#include "agent/memory/memory_ops.h"
#include "agent/service/agent_control_service.h"
#include "agent/service/agent_data_service.h"
#include "agent/service/agent_local_service.h"
#include "agent/tasks/digest_runner.h"
#include "agent/tasks/group_table.h"
#include "agent/tasks/lora_merger.h"
#include "agent/tasks/task_runner.h"
#include "agent/tensors/tensor_registry.h"
#include "agent/transport/host_transport.h"
#include "agent/transport/inbox.h"
#include "common/shared_memory.h"
#include "fuzz/fuzz_calls.h"
#include "paramsync/v1/coordinator.grpc.pb.h"

namespace paramsync::fuzz {
namespace {

namespace v1 = ::paramsync::v1;

constexpr char kSelf[] = "fuzz-agent:7000";  // This agent's address.
constexpr char kPeer[] = "fuzz-peer:7000";   // Another agent's (served by this one).
constexpr char kRegion[] = "/paramsync-fuzz";
constexpr size_t kRegionBytes = 1 << 16;
constexpr absl::Duration kCallDeadline = absl::Milliseconds(20);
constexpr absl::Duration kHandlerGrace = absl::Seconds(10);

enum Rpc : uint8_t {
  kNewGroupIds,
  kSetupGroups,
  kRunTasks,
  kCommit,
  kDestroyGroups,
  kAbort,
  kRegisterEndpoint,
  kGetVersion,
  kPush,
  kDigest,
  kLora,
  kNumRpcs,
};

void Die(const char* what) {
  std::fprintf(stderr, "agent_service_fuzzer: %s\n", what);
  std::abort();
}

// One agent, wired as agent/agent_server.cc wires a CPU agent.
struct Agent {
  explicit Agent(std::shared_ptr<grpc::Channel> channel)
      : channel(channel), transport(&inbox, [channel](const std::string&) { return channel; }) {
    transport.set_self_address(kSelf);
    runner.set_self_address(kSelf);
  }

  // The link registers in the background (a thread and an RPC): made only for
  // inputs that register endpoints. Until then RegisterEndpoint answers
  // UNAVAILABLE, as in a starting agent.
  void StartLink() {
    if (link != nullptr) return;
    link = std::make_unique<agent::CoordinatorLink>(channel, Self(), &tensors, absl::Seconds(5));
    link->Start();
    if (!link->WaitRegistered(absl::Seconds(10)).ok()) Die("the agent did not register");
    local.set_link(link.get());
  }

  static v1::AgentInfo Self() {
    v1::AgentInfo self;
    self.set_host("fuzz-agent");
    self.set_device(std::string("cpu@") + kSelf);
    self.set_address(kSelf);
    self.set_gpu_index(-1);
    self.set_device_kind(v1::DEVICE_KIND_HOST);
    return self;
  }

  const std::shared_ptr<grpc::Channel> channel;
  agent::HostMemoryOps memory;
  agent::Inbox inbox{&memory};
  agent::HostTransport transport;
  agent::TensorRegistry tensors;
  agent::GroupTable groups{&transport};
  agent::TaskRunner runner{&tensors, &groups, &transport, &memory};
  std::unique_ptr<agent::CoordinatorLink> link;
  agent::DigestRunner digests{&tensors, &memory};
  agent::LoraMerger lora{&tensors, &memory};
  agent::AgentControlService control{&tensors, &groups, &runner, &transport, &digests, &lora};
  agent::AgentLocalService local{&tensors, nullptr};
  agent::AgentDataService data{&inbox};
};

// The agent the forwarding services call, and how many of their calls run.
absl::Mutex current_mu;
Agent* current_agent ABSL_GUARDED_BY(current_mu) = nullptr;
int handlers_running ABSL_GUARDED_BY(current_mu) = 0;

// Runs `call` on the current agent's service, counted in handlers_running.
template <typename Call>
grpc::Status Forward(Call call) {
  Agent* agent;
  {
    absl::MutexLock lock(&current_mu);
    if (current_agent == nullptr) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no agent");
    agent = current_agent;
    ++handlers_running;
  }
  grpc::Status status = call(*agent);
  absl::MutexLock lock(&current_mu);
  --handlers_running;
  return status;
}

class ForwardingControl final : public v1::AgentControl::Service {
  grpc::Status RunTasks(grpc::ServerContext* context, const v1::RunTasksRequest* request,
                        v1::RunTasksResponse* response) override {
    return Forward([&](Agent& a) { return a.control.RunTasks(context, request, response); });
  }
};

class ForwardingData final : public v1::AgentData::Service {
  grpc::Status Push(grpc::ServerContext* context, grpc::ServerReader<v1::DataChunk>* reader,
                    v1::PushResponse* response) override {
    return Forward([&](Agent& a) { return a.data.Push(context, reader, response); });
  }
};

// Accepts everything the agent's link sends.
class StandInCoordinator final : public v1::Coordinator::Service {
  grpc::Status RegisterAgent(grpc::ServerContext*, const v1::RegisterAgentRequest*,
                             v1::RegisterAgentResponse* response) override {
    response->set_agent_id("agent-fuzz-1");
    response->set_heartbeat_interval_ms(3600 * 1000);  // No heartbeat during an input.
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*,
                         v1::HeartbeatResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status RegisterEndpoint(grpc::ServerContext*, const v1::RegisterEndpointRequest*,
                                v1::RegisterEndpointResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status ReportError(grpc::ServerContext*, const v1::ReportErrorRequest*,
                           v1::ReportErrorResponse*) override {
    return grpc::Status::OK;
  }
};

struct InProcessServer {
  InProcessServer() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&control);
    builder.RegisterService(&data);
    builder.RegisterService(&coordinator);
    server = builder.BuildAndStart();
    if (server == nullptr) Die("the in-process server did not start");
    channel = server->InProcessChannel(grpc::ChannelArguments());
    control_stub = v1::AgentControl::NewStub(channel);
    data_stub = v1::AgentData::NewStub(channel);
  }

  ForwardingControl control;
  ForwardingData data;
  StandInCoordinator coordinator;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::AgentControl::Stub> control_stub;
  std::unique_ptr<v1::AgentData::Stub> data_stub;
};

InProcessServer* server = nullptr;
SharedMemoryRegion* region = nullptr;

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
}

void RunCall(Agent& a, const Call& call) {
  grpc::ServerContext context;
  switch ((call.selector & 0x0f) % kNumRpcs) {
    case kNewGroupIds: {
      v1::NewGroupIdsRequest request;
      v1::NewGroupIdsResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("NewGroupIds", a.control.NewGroupIds(&context, &request, &response));
      return;
    }
    case kSetupGroups: {
      v1::SetupGroupsRequest request;
      v1::SetupGroupsResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("SetupGroups", a.control.SetupGroups(&context, &request, &response));
      return;
    }
    case kRunTasks: {
      v1::RunTasksRequest request;
      v1::RunTasksResponse response;
      if (!ParseRequest(call, request)) return;
      grpc::ClientContext client;
      SetDeadline(client);
      CheckHandlerStatus("RunTasks", server->control_stub->RunTasks(&client, request, &response));
      return;
    }
    case kCommit: {
      v1::CommitRequest request;
      v1::CommitResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("Commit", a.control.Commit(&context, &request, &response));
      return;
    }
    case kDestroyGroups: {
      v1::DestroyGroupsRequest request;
      v1::DestroyGroupsResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("DestroyGroups", a.control.DestroyGroups(&context, &request, &response));
      return;
    }
    case kAbort: {
      v1::AbortRequest request;
      v1::AbortResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("Abort", a.control.Abort(&context, &request, &response));
      return;
    }
    case kRegisterEndpoint: {
      v1::LocalRegisterEndpointRequest request;
      v1::LocalRegisterEndpointResponse response;
      if (!ParseRequest(call, request)) return;
      for (v1::LocalTensor& tensor : *request.mutable_tensors()) {
        if (tensor.shm_name() == kRegion) tensor.set_shm_name(region->name());
      }
      a.StartLink();
      CheckHandlerStatus("RegisterEndpoint",
                         a.local.RegisterEndpoint(&context, &request, &response));
      return;
    }
    case kGetVersion: {
      v1::GetVersionRequest request;
      v1::GetVersionResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("GetVersion", a.local.GetVersion(&context, &request, &response));
      return;
    }
    case kPush: {
      v1::DataChunk chunk;
      v1::PushResponse response;
      if (!ParseRequest(call, chunk)) return;
      grpc::ClientContext client;
      SetDeadline(client);
      std::unique_ptr<grpc::ClientWriter<v1::DataChunk>> writer =
          server->data_stub->Push(&client, &response);
      const int chunks = 1 + ((call.selector >> 4) & 7);
      for (int i = 0; i < chunks && writer->Write(chunk); ++i) {
      }
      writer->WritesDone();
      CheckHandlerStatus("Push", writer->Finish());
      return;
    }
    case kDigest: {
      v1::DigestRequest request;
      v1::DigestResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("Digest", a.control.Digest(&context, &request, &response));
      return;
    }
    case kLora: {
      v1::LoraRequest request;
      v1::LoraResponse response;
      if (!ParseRequest(call, request)) return;
      CheckHandlerStatus("Lora", a.control.Lora(&context, &request, &response));
      return;
    }
  }
}

// Waits for the handlers the in-process server still runs for this input.
void WaitForHandlers() {
  absl::MutexLock lock(&current_mu);
  auto done = []() ABSL_EXCLUSIVE_LOCKS_REQUIRED(current_mu) { return handlers_running == 0; };
  if (!current_mu.AwaitWithTimeout(absl::Condition(&done), kCallDeadline + kHandlerGrace)) {
    Die("a RunTasks or Push handler still runs well past its deadline (a hang)");
  }
}

// ---- Seeds ------------------------------------------------------------------

v1::LocalTensor* AddTensor(v1::LocalRegisterEndpointRequest& request, const std::string& name,
                           int rows, int cols, uint64_t offset) {
  v1::LocalTensor* t = request.add_tensors();
  t->mutable_spec()->set_name(name);
  t->mutable_spec()->set_dtype(v1::DTYPE_FLOAT32);
  t->mutable_spec()->add_shape(rows);
  t->mutable_spec()->add_shape(cols);
  t->set_shm_name(kRegion);
  t->set_offset(offset);
  t->set_nbytes(uint64_t{4} * rows * cols);
  return t;
}

v1::LocalRegisterEndpointRequest Endpoint(const std::string& model, int rank, int rows,
                                          uint64_t offset) {
  v1::LocalRegisterEndpointRequest request;
  v1::EndpointSpec* e = request.mutable_endpoint();
  e->set_model(model);
  e->set_rank(rank);
  e->set_local_rank(rank);
  e->set_role(model == "trainer" ? v1::ROLE_TRAINER : v1::ROLE_INFERENCE);
  AddTensor(request, "w", rows, 8, offset);
  AddTensor(request, "b", 1, 8, offset + uint64_t{4} * rows * 8);  // Right after w.
  return request;
}

v1::GroupMember* AddMember(v1::CollectiveGroupSpec& group, int sync_rank, const char* address,
                           const std::string& model, int model_rank) {
  v1::GroupMember* m = group.add_members();
  m->set_sync_rank(sync_rank);
  m->set_agent_id(address == std::string(kSelf) ? "agent-fuzz-1" : "agent-peer");
  m->set_agent_address(address);
  m->set_model(model);
  m->set_model_rank(model_rank);
  return m;
}

v1::TensorMove* AddMove(v1::TransferTask& task, const std::string& name, int rows, bool joins) {
  v1::TensorMove* move = task.add_tensors();
  move->set_src_name(name);
  move->set_dst_name(name);
  move->set_dtype(v1::DTYPE_FLOAT32);
  move->add_wire_shape(rows);
  move->add_wire_shape(8);
  move->set_num_slices(1);
  move->set_joins_next(joins);
  return move;
}

std::vector<std::pair<std::string, std::string>> Seeds() {
  std::vector<std::pair<std::string, std::string>> seeds;
  v1::GetVersionRequest version;
  version.mutable_endpoint()->set_model("vllm");
  v1::CommitRequest commit;
  commit.set_sync_id(2);
  commit.set_version(1);
  *commit.add_endpoints() = version.endpoint();

  {  // Trainer rank 0 -> inference rank 0, both here: explicit tasks, then a stored plan.
    v1::SetupGroupsRequest setup;
    v1::CollectiveGroupSpec* g = setup.add_groups();
    g->set_name("g_default_from_0_to_1");
    AddMember(*g, 0, kSelf, "trainer", 0);
    AddMember(*g, 1, kSelf, "vllm", 0);
    setup.set_plan_id(7);
    v1::TransferTask* task = setup.mutable_tasks()->add_transfers();
    task->set_task_id(1);
    task->set_stage(1);
    task->set_group(g->name());
    task->set_root_sync_rank(0);
    task->add_receivers()->set_sync_rank(1);
    AddMove(*task, "w", 4, /*joins=*/true);
    AddMove(*task, "b", 1, /*joins=*/false);
    v1::RunTasksRequest explicit_tasks;
    explicit_tasks.set_sync_id(1);
    *explicit_tasks.mutable_tasks() = setup.tasks();
    v1::RunTasksRequest stored;
    stored.set_sync_id(2);
    stored.set_plan_id(7);
    v1::NewGroupIdsRequest ids;
    ids.set_count(2);
    v1::DestroyGroupsRequest destroy;
    destroy.add_names(g->name());
    v1::AbortRequest abort;
    abort.set_sync_id(3);
    abort.set_reason("fuzz");
    SeedWriter w;
    w.Add(kRegisterEndpoint, Endpoint("trainer", 0, 4, 0));
    w.Add(kRegisterEndpoint, Endpoint("vllm", 0, 4, 4096));
    w.Add(kNewGroupIds, ids).Add(kSetupGroups, setup);
    w.Add(kRunTasks, explicit_tasks).Add(kRunTasks, stored);
    w.Add(kCommit, commit).Add(kGetVersion, version);
    w.Add(kAbort, abort).Add(kDestroyGroups, destroy);
    seeds.emplace_back("seed_local_transfer", w.input());
  }
  {  // Digests of an inference rank's w: whole, and rows 1-2 of it, as rows 4-7 of a
     // [8, 8] parameter.
    v1::DigestRequest digest;
    digest.set_sync_id(4);
    auto set = [](google::protobuf::RepeatedField<int64_t>* field, int64_t a, int64_t b) {
      field->Add(a);
      field->Add(b);
    };
    v1::DigestItem* whole = digest.add_items();
    whole->mutable_endpoint()->set_model("vllm");
    whole->set_name("w");
    set(whole->mutable_region()->mutable_start(), 0, 0);
    set(whole->mutable_region()->mutable_extent(), 4, 8);
    set(whole->mutable_global_shape(), 8, 8);
    set(whole->mutable_global_start(), 4, 0);
    v1::DigestItem* rows = digest.add_items();
    rows->mutable_endpoint()->set_model("vllm");
    rows->set_name("w");
    set(rows->mutable_region()->mutable_start(), 1, 0);
    set(rows->mutable_region()->mutable_extent(), 2, 8);
    set(rows->mutable_global_shape(), 8, 8);
    set(rows->mutable_global_start(), 5, 0);
    SeedWriter w;
    w.Add(kRegisterEndpoint, Endpoint("vllm", 0, 4, 0));
    w.Add(kDigest, digest);
    seeds.emplace_back("seed_digest", w.input());
  }
  {  // A trainer rank's w [4, 8] with a rank-2 LoRA adapter: merged, aborted, merged, restored.
    v1::LocalRegisterEndpointRequest trainer = Endpoint("trainer", 0, 4, 0);
    const uint64_t after = uint64_t{4} * 5 * 8;  // After w and b.
    auto adapter = [&](const char* name, v1::LoraRole role, int rows, int cols, uint64_t at) {
      v1::LoraSpec* lora = AddTensor(trainer, name, rows, cols, at)->mutable_spec()->mutable_lora();
      lora->set_role(role);
      lora->set_base("w");
      lora->set_scale(0.5);
    };
    adapter("w.lora_A", v1::LORA_ROLE_A, 2, 8, after);
    adapter("w.lora_B", v1::LORA_ROLE_B, 4, 2, after + 4 * 2 * 8);
    v1::LoraRequest merge;
    merge.set_sync_id(6);
    merge.set_action(v1::LORA_ACTION_MERGE);
    merge.add_endpoints()->set_model("trainer");
    v1::LoraRequest restore = merge;
    restore.set_action(v1::LORA_ACTION_RESTORE);
    restore.clear_endpoints();
    v1::AbortRequest abort;
    abort.set_sync_id(6);
    SeedWriter w;
    w.Add(kRegisterEndpoint, trainer);
    w.Add(kLora, merge).Add(kAbort, abort).Add(kLora, merge).Add(kLora, restore);
    seeds.emplace_back("seed_lora", w.input());
  }
  {  // Two stages: the receiver keeps half of w (dim 0) and forwards the whole in stage 2.
    v1::SetupGroupsRequest setup;
    v1::CollectiveGroupSpec* g1 = setup.add_groups();
    g1->set_name("g_stage1");
    AddMember(*g1, 0, kSelf, "trainer", 0);
    AddMember(*g1, 1, kSelf, "vllm", 0);
    v1::CollectiveGroupSpec* g2 = setup.add_groups();
    g2->set_name("g_stage2");
    AddMember(*g2, 1, kSelf, "vllm", 0);
    AddMember(*g2, 2, kSelf, "vllm", 1);
    v1::RunTasksRequest run;
    run.set_sync_id(5);
    v1::TransferTask* t1 = run.mutable_tasks()->add_transfers();
    t1->set_task_id(1);
    t1->set_stage(1);
    t1->set_group("g_stage1");
    t1->set_root_sync_rank(0);
    v1::Receiver* r1 = t1->add_receivers();
    r1->set_sync_rank(1);
    r1->set_stage_whole(true);
    v1::TensorMove* m1 = AddMove(*t1, "w", 4, false);
    m1->set_num_slices(2);
    m1->set_slice_dim(0);
    v1::TransferTask* t2 = run.mutable_tasks()->add_transfers();
    t2->set_task_id(2);
    t2->set_stage(2);
    t2->set_group("g_stage2");
    t2->set_root_sync_rank(1);
    v1::Receiver* r2 = t2->add_receivers();
    r2->set_sync_rank(2);
    r2->set_slice_index(1);
    v1::TensorMove* m2 = AddMove(*t2, "w", 4, false);
    m2->set_num_slices(2);
    m2->set_slice_dim(0);
    m2->set_from_staging(true);
    SeedWriter w;
    w.Add(kRegisterEndpoint, Endpoint("trainer", 0, 4, 0));
    w.Add(kRegisterEndpoint, Endpoint("vllm", 0, 2, 1024));
    w.Add(kRegisterEndpoint, Endpoint("vllm", 1, 2, 2048));
    w.Add(kSetupGroups, setup).Add(kRunTasks, run);
    seeds.emplace_back("seed_two_stage_slices", w.input());
  }
  {  // A peer agent in the group: the root pushes to it (this agent's Push), and a push
     // arrives for a receive nobody posted.
    v1::SetupGroupsRequest setup;
    v1::CollectiveGroupSpec* g = setup.add_groups();
    g->set_name("g_remote");
    AddMember(*g, 0, kSelf, "trainer", 0);
    AddMember(*g, 1, kPeer, "vllm", 0);
    AddMember(*g, 2, kPeer, "vllm", 1);
    v1::RunTasksRequest run;
    run.set_sync_id(9);
    v1::TransferTask* task = run.mutable_tasks()->add_transfers();
    task->set_task_id(4);
    task->set_stage(1);
    task->set_group("g_remote");
    task->set_root_sync_rank(0);
    task->add_receivers()->set_sync_rank(1);
    task->add_receivers()->set_sync_rank(2);
    AddMove(*task, "w", 4, false);
    v1::DataChunk chunk;
    chunk.set_sync_id(9);
    chunk.set_task_id(4);
    chunk.set_receiver_sync_rank(1);
    chunk.set_data(std::string(64, 'x'));
    SeedWriter w;
    w.Add(kRegisterEndpoint, Endpoint("trainer", 0, 4, 0));
    w.Add(kSetupGroups, setup).Add(kRunTasks, run);
    w.Add(static_cast<uint8_t>(kPush | (1 << 4)), chunk);
    seeds.emplace_back("seed_remote_push", w.input());
  }
  {  // Regression: a staged receive sized its buffer by the sender's shape alone.
    v1::SetupGroupsRequest setup;
    v1::CollectiveGroupSpec* g = setup.add_groups();
    g->set_name("g_stage1");
    AddMember(*g, 0, kPeer, "trainer", 0);
    AddMember(*g, 1, kSelf, "vllm", 0);
    v1::RunTasksRequest run;
    run.set_sync_id(13);
    v1::TransferTask* task = run.mutable_tasks()->add_transfers();
    task->set_task_id(1);
    task->set_stage(1);
    task->set_group("g_stage1");
    task->set_root_sync_rank(0);
    task->add_receivers()->set_sync_rank(1);
    v1::TensorMove* move = AddMove(*task, "w", 4, false);
    move->set_wire_shape(0, int64_t{1} << 40);  // 32 TiB as sent; 64 bytes here.
    move->set_num_slices(2);
    SeedWriter w;
    w.Add(kRegisterEndpoint, Endpoint("vllm", 0, 2, 1024));
    w.Add(kSetupGroups, setup).Add(kRunTasks, run);
    seeds.emplace_back("regress_huge_staging", w.input());
  }
  {  // Regression: stage 2^31-1 made the response list 2^31 stage durations.
    v1::SetupGroupsRequest setup;
    v1::CollectiveGroupSpec* g = setup.add_groups();
    g->set_name("g_alone");
    AddMember(*g, 0, kSelf, "trainer", 0);
    v1::RunTasksRequest run;
    run.set_sync_id(11);
    v1::TransferTask* task = run.mutable_tasks()->add_transfers();
    task->set_task_id(1);
    task->set_stage(2147483647);
    task->set_group("g_alone");
    SeedWriter w;
    w.Add(kSetupGroups, setup).Add(kRunTasks, run);
    seeds.emplace_back("regress_huge_stage", w.input());
  }
  {  // HEP: two trainer ranks here regroup a routed-expert tensor (all-to-all boxes).
    v1::SetupGroupsRequest setup;
    v1::CollectiveGroupSpec* g = setup.add_groups();
    g->set_name("g_regroup");
    AddMember(*g, 0, kSelf, "trainer", 0);
    AddMember(*g, 1, kSelf, "trainer", 1);
    v1::RunTasksRequest run;
    run.set_sync_id(15);
    v1::RegroupTask* regroup = run.mutable_tasks()->add_regroups();
    regroup->set_task_id(100);
    regroup->set_group("g_regroup");
    for (int src = 0; src < 2; ++src) {
      for (int dst = 0; dst < 2; ++dst) {
        v1::RegroupPiece* piece = regroup->add_pieces();
        piece->set_src_sync_rank(src);
        piece->set_dst_sync_rank(dst);
        piece->set_name("w");
        piece->set_dtype(v1::DTYPE_FLOAT32);
        for (int64_t d : {4, 8}) piece->add_src_shape(d);
        for (int64_t d : {4, 8}) piece->add_dst_shape(d);
        for (int64_t d : {2 * dst, 0}) piece->mutable_src_box()->add_start(d);
        for (int64_t d : {2 * src, 0}) piece->mutable_dst_box()->add_start(d);
        for (int64_t d : {2, 8}) piece->mutable_src_box()->add_extent(d);
        for (int64_t d : {2, 8}) piece->mutable_dst_box()->add_extent(d);
        piece->set_send_whole(src != dst && dst == 1);
      }
    }
    SeedWriter w;
    w.Add(kRegisterEndpoint, Endpoint("trainer", 0, 4, 0));
    w.Add(kRegisterEndpoint, Endpoint("trainer", 1, 4, 1024));
    w.Add(kSetupGroups, setup).Add(kRunTasks, run);
    seeds.emplace_back("seed_regroup", w.input());
  }
  {  // Regression: a regroup sized its assembled tensor by the request's dst_shape.
    v1::SetupGroupsRequest setup;
    v1::CollectiveGroupSpec* g = setup.add_groups();
    g->set_name("g_regroup_huge");
    AddMember(*g, 0, kSelf, "trainer", 0);
    v1::RunTasksRequest run;
    run.set_sync_id(16);
    v1::RegroupTask* regroup = run.mutable_tasks()->add_regroups();
    regroup->set_task_id(200);
    regroup->set_group("g_regroup_huge");
    v1::RegroupPiece* piece = regroup->add_pieces();
    piece->set_name("w");
    piece->set_dtype(v1::DTYPE_FLOAT32);
    for (int64_t d : {4, 8}) piece->add_src_shape(d);
    for (int64_t d : {int64_t{1} << 40, int64_t{8}}) piece->add_dst_shape(d);
    for (int64_t d : {0, 0}) piece->mutable_src_box()->add_start(d);
    for (int64_t d : {0, 0}) piece->mutable_dst_box()->add_start(d);
    for (int64_t d : {4, 8}) piece->mutable_src_box()->add_extent(d);
    for (int64_t d : {4, 8}) piece->mutable_dst_box()->add_extent(d);
    SeedWriter w;
    w.Add(kRegisterEndpoint, Endpoint("trainer", 0, 4, 0));
    w.Add(kSetupGroups, setup).Add(kRunTasks, run);
    seeds.emplace_back("regress_huge_regroup", w.input());
  }
  {  // Regression: every local job of a step gets a thread; 2,000 would exhaust them.
    v1::SetupGroupsRequest setup;
    v1::CollectiveGroupSpec* g = setup.add_groups();
    g->set_name("g_alone");
    AddMember(*g, 0, kSelf, "trainer", 0);
    v1::RunTasksRequest run;
    run.set_sync_id(17);
    for (int i = 0; i < 2000; ++i) {
      v1::TransferTask* task = run.mutable_tasks()->add_transfers();
      task->set_task_id(i + 1);
      task->set_stage(1);
      task->set_group("g_alone");
    }
    SeedWriter w;
    w.Add(kSetupGroups, setup).Add(kRunTasks, run);
    seeds.emplace_back("regress_many_jobs", w.input());
  }
  return seeds;
}

}  // namespace
}  // namespace paramsync::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace paramsync::fuzz;  // NOLINT(build/namespaces)
  QuietLogs();
  MaybeWriteSeeds(Seeds());
  const std::string name = std::string(kRegion) + "-" + std::to_string(getpid());
  (void)paramsync::SharedMemoryRegion::Unlink(name);  // Left by a crashed run of this pid.
  absl::StatusOr<paramsync::SharedMemoryRegion> created =
      paramsync::SharedMemoryRegion::Create(name, kRegionBytes);
  if (!created.ok()) Die("cannot create the shared-memory region");
  region = new paramsync::SharedMemoryRegion(*std::move(created));
  std::atexit([] { delete region; });  // Unlinks the name.
  server = new InProcessServer();      // Lives as long as the process.
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paramsync::fuzz;  // NOLINT(build/namespaces)
  const std::vector<Call> calls = SplitCalls(data, size);
  if (calls.empty()) return 0;
  auto agent = std::make_unique<Agent>(server->channel);
  {
    absl::MutexLock lock(&current_mu);
    current_agent = agent.get();
  }
  for (const Call& call : calls) RunCall(*agent, call);
  {
    absl::MutexLock lock(&current_mu);
    current_agent = nullptr;
  }
  WaitForHandlers();
  return 0;
}
