// Issue 8 (c) at full node width, planned without moving a byte: the
// 30B-A3B-like MoE (bench preset "qwen3-30b-a3b": 48 layers of 128 stacked
// experts, ~61 GB) held by a trainer of EP4 x TP2 on 8 GPUs, synced by HEP into
// an inference TP8 on the same 8 GPUs. The ranks declare exactly the shards the
// framework stand-in (bench/tensor_holder) registers, built from the same model
// layout; nothing is allocated (the GPU run needs an 8-GPU host: tests/gpu/README.md).
#include <catch2/catch.hpp>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/model_layout.h"
#include "client/endpoint.h"
#include "coordinator/planner/plan_builder.h"
#include "coordinator/sync/sync_participants.h"
#include "coordinator/sync/transfer_plan_builder.h"

namespace paramsync::coordinator {
namespace {

constexpr int kGpus = 8;
constexpr int kTrainerTp = 2;
constexpr int kTrainerEp = 4;

// The parameter specs a rank of `layout` registers, as the client library lays
// them out (client::LayOut), without memory behind them.
std::vector<v1::ParameterSpec> RegisteredParameters(
    const std::vector<bench::ParameterLayout>& model, const bench::RankLayout& layout) {
  uint64_t bytes = 0;
  absl::StatusOr<v1::LocalRegisterEndpointRequest> request =
      client::LayOut(v1::EndpointSpec(), bench::ShardDecls(model, layout), 1, &bytes);
  INFO(request.status().ToString());
  REQUIRE(request.ok());
  std::vector<v1::ParameterSpec> out;
  for (const v1::LocalTensor& tensor : request->tensors()) out.push_back(tensor.spec());
  return out;
}

int64_t SpecBytes(const std::vector<v1::ParameterSpec>& parameters) {
  int64_t total = 0;
  for (const v1::ParameterSpec& p : parameters) {
    int64_t n = 2;  // bf16
    for (int64_t d : p.shape()) n *= d;
    total += n;
  }
  return total;
}

// Rank r of a model on agent r, in the rank orders bench/local_cluster uses:
// Megatron's for the trainer (dp_rank = r / tp, expert groups inside data
// parallel ones), vLLM's for one inference replica.
EndpointRecord Rank(bool trainer, int tp, int dp, int rank,
                    std::vector<v1::ParameterSpec> parameters) {
  EndpointRecord e;
  e.spec.set_model(trainer ? "trainer" : "vllm");
  e.spec.set_role(trainer ? v1::ROLE_TRAINER : v1::ROLE_INFERENCE);
  e.spec.set_rank(rank);
  e.spec.set_local_rank(rank % tp);
  v1::ParallelConfig* p = e.spec.mutable_parallel();
  p->set_tp_size(tp);
  p->set_tp_rank(rank % tp);
  p->set_pp_size(1);
  p->set_dp_size(dp);
  p->set_dp_rank(rank / tp);
  p->set_ep_size(trainer ? kTrainerEp : 1);
  p->set_ep_rank(trainer ? (rank / tp) % kTrainerEp : 0);
  e.agent_id = absl::StrCat("gpu-", rank);
  e.parameters = std::move(parameters);
  return e;
}

absl::flat_hash_map<std::string, v1::AgentInfo> EightGpuAgents() {
  absl::flat_hash_map<std::string, v1::AgentInfo> agents;
  for (int i = 0; i < kGpus; ++i) {
    v1::AgentInfo& a = agents[absl::StrCat("gpu-", i)];
    a.set_agent_id(absl::StrCat("gpu-", i));
    a.set_host("node0");
    a.set_device(absl::StrCat("cuda:", i));
    a.set_address(absl::StrCat("127.0.0.1:", 7000 + i));
  }
  return agents;
}

TEST_CASE("8 GPUs (c): 30B-A3B-like HEP EP4 x TP2 -> TP8 plans every parameter of every rank",
          "[transfer_plan][hep][eight]") {
  absl::StatusOr<bench::ModelShape> shape = bench::ModelPreset("qwen3-30b-a3b");
  REQUIRE(shape.ok());
  const std::vector<bench::ParameterLayout> model = bench::TransformerParameters(*shape);
  std::vector<EndpointRecord> trainer, inference;
  int64_t inference_bytes = 0;
  for (int rank = 0; rank < kGpus; ++rank) {
    bench::RankLayout trainer_layout{kTrainerTp, rank % kTrainerTp};
    trainer_layout.expert_parts = kTrainerEp;
    trainer_layout.expert_part = (rank / kTrainerTp) % kTrainerEp;
    trainer.push_back(
        Rank(true, kTrainerTp, kTrainerEp, rank, RegisteredParameters(model, trainer_layout)));
    // vLLM with expert parallelism: rank r holds expert block r, each expert whole.
    bench::RankLayout inference_layout{kGpus, rank};
    inference_layout.expert_parts = kGpus;
    inference_layout.expert_part = rank;
    inference_layout.experts_tp_split = false;
    inference.push_back(Rank(false, kGpus, 1, rank, RegisteredParameters(model, inference_layout)));
    inference_bytes += SpecBytes(inference.back().parameters);
  }
  // Each GPU holds 1/8 of the routed experts on either side: ~7 GB.
  CHECK(inference_bytes > int64_t{60} * 1000 * 1000 * 1000);

  for (v1::RegroupCommType regroup :
       {v1::REGROUP_COMM_TYPE_ALLTOALL, v1::REGROUP_COMM_TYPE_ALLGATHER}) {
    DYNAMIC_SECTION(v1::RegroupCommType_Name(regroup)) {
      v1::SyncGroupSpec group;
      group.set_name("hep");
      group.set_src_model("trainer");
      group.set_dst_model("vllm");
      group.set_hep(true);
      group.set_regroup_comm_type(regroup);
      absl::StatusOr<SyncParticipants> participants =
          BuildSyncParticipants(group, trainer, inference, EightGpuAgents());
      INFO(participants.status().ToString());
      REQUIRE(participants.ok());
      absl::StatusOr<planner::SyncPlan> plan = planner::BuildSyncPlan(participants->topology);
      INFO(plan.status().ToString());
      REQUIRE(plan.ok());
      // The parameter-level check inside: every inference tensor arrives exactly
      // once with the shape its rank registered, or the build fails.
      absl::StatusOr<TransferPlan> transfers = BuildTransferPlan(*plan, *participants);
      INFO(transfers.status().ToString());
      REQUIRE(transfers.ok());
      CHECK(transfers->dst_tensors == kGpus * static_cast<int64_t>(model.size()));
      CHECK(transfers->dst_bytes == inference_bytes);
      // 96 routed-expert tensors of 100 MB per rank: waves under the 256 MiB budget.
      CHECK(transfers->waves > 1);
      std::set<uint64_t> regroups;
      std::set<std::string> routed_received;
      for (const AgentWork& work : transfers->agents) {
        for (const v1::RegroupTask& task : work.tasks.regroups()) regroups.insert(task.task_id());
        for (const v1::TransferTask& task : work.tasks.transfers()) {
          for (const v1::TensorMove& move : task.tensors()) {
            if (move.src_name().find(".mlp.experts.") == std::string::npos) continue;
            // Expert layout (tp x ep = 8 on both sides): each regrouped block
            // goes one to one to the inference rank of its position, its own GPU.
            CHECK(move.from_staging());
            REQUIRE(task.receivers_size() == 1);
            CHECK(task.receivers(0).sync_rank() - kGpus == task.root_sync_rank());
            routed_received.insert(
                absl::StrCat(task.receivers(0).sync_rank(), "/", move.src_name()));
          }
        }
      }
      CHECK(!regroups.empty());
      CHECK(routed_received.size() == size_t{kGpus} * 2 * shape->layers);
    }
  }
}

}  // namespace
}  // namespace paramsync::coordinator
