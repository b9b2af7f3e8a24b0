#include "coordinator/sync/transfer_plan_builder.h"

#include <catch2/catch.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/planner/plan_builder.h"
#include "coordinator/sync/sync_participants.h"
#include "tests/coordinator/plan_fixtures.h"

namespace paramsync::coordinator {
namespace {

using testing::Agents;
using testing::Model;
using testing::Param;

v1::SyncGroupSpec Group() {
  v1::SyncGroupSpec spec;
  spec.set_name("g");
  spec.set_src_model("t");
  spec.set_dst_model("i");
  return spec;
}

absl::StatusOr<TransferPlan> Build(const std::vector<EndpointRecord>& src,
                                   const std::vector<EndpointRecord>& dst, int agents) {
  absl::StatusOr<SyncParticipants> participants =
      BuildSyncParticipants(Group(), src, dst, Agents(agents));
  if (!participants.ok()) return participants.status();
  absl::StatusOr<planner::SyncPlan> plan = planner::BuildSyncPlan(participants->topology);
  if (!plan.ok()) return plan.status();
  return BuildTransferPlan(*plan, *participants);
}

void CheckError(const absl::Status& status, absl::StatusCode code, const std::string& needle) {
  INFO(status.ToString());
  CHECK(status.code() == code);
  CHECK(std::string(status.message()).find(needle) != std::string::npos);
}

TEST_CASE("TP2 -> TP4: stage 1 stages whole shards, stage 2 forwards them, slices by rank",
          "[transfer_plan]") {
  absl::StatusOr<TransferPlan> plan =
      Build(Model("t", true, 2, 1, 0), Model("i", false, 4, 1, 2), 6);
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  CHECK(plan->agents.size() == 6);
  // 4 inference ranks x (qkv 4x8 + proj 8x4 + norm 8) bf16 elements.
  CHECK(plan->dst_bytes == 4 * (32 + 32 + 8) * 2);
  CHECK(plan->dst_tensors == 12);
  int stage1 = 0, stage2 = 0;
  for (const AgentWork& work : plan->agents) {
    for (const v1::TransferTask& task : work.tasks.transfers()) {
      if (task.root_sync_rank() >= 2) {
        ++stage2;
        CHECK(task.stage() == 2);
        for (const v1::TensorMove& m : task.tensors()) {
          CHECK(m.from_staging());
          // A forward to one rank carries only that rank's slice.
          CHECK(m.sender_slices() == (m.num_slices() > 1));
        }
        continue;
      }
      ++stage1;
      CHECK(task.stage() == 1);
      REQUIRE(task.receivers_size() == 1);
      const v1::Receiver& r = task.receivers(0);
      CHECK(r.stage_whole());
      // Sync ranks 2..5 are inference tp ranks 0..3; trainer tp t feeds 2t, 2t+1.
      CHECK((r.sync_rank() - 2) / 2 == task.root_sync_rank());
      CHECK(r.slice_index() == (r.sync_rank() - 2) % 2);
      REQUIRE(task.tensors_size() == 3);
      CHECK(task.tensors(0).num_slices() == 2);
      CHECK(task.tensors(0).slice_dim() == 0);
      CHECK(task.tensors(1).slice_dim() == 1);
      CHECK(task.tensors(2).num_slices() == 1);
    }
  }
  // Each task is listed by the agents of its root and of its receiver.
  CHECK(stage1 == 4);
  CHECK(stage2 == 4);
}

TEST_CASE("Equal TP with 2 replicas: one broadcast per trainer rank, straight into tensors",
          "[transfer_plan]") {
  absl::StatusOr<TransferPlan> plan =
      Build(Model("t", true, 2, 1, 0), Model("i", false, 2, 2, 2), 6);
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  for (const AgentWork& work : plan->agents) {
    for (const v1::TransferTask& task : work.tasks.transfers()) {
      CHECK(task.stage() == 1);
      CHECK(task.receivers_size() == 2);
      for (const v1::Receiver& r : task.receivers()) CHECK_FALSE(r.stage_whole());
      for (const v1::TensorMove& m : task.tensors()) CHECK(m.num_slices() == 1);
    }
    CHECK(work.groups.groups_size() == work.tasks.transfers_size());
  }
}

// Places the model's parameters back to back in one allocation, the first
// `gap_after` of them followed by a 64-byte gap.
void PlaceContiguously(std::vector<EndpointRecord>& model, int gap_after = -1) {
  for (EndpointRecord& e : model) {
    uint64_t offset = 0;
    for (size_t i = 0; i < e.parameters.size(); ++i) {
      v1::ParameterSpec& p = e.parameters[i];
      p.set_storage(absl::StrCat("shm:", e.spec.model(), e.spec.rank()));
      p.set_storage_offset(offset);
      uint64_t bytes = 2;
      for (int64_t d : p.shape()) bytes *= d;
      offset += bytes + (static_cast<int>(i) == gap_after ? 64 : 0);
    }
  }
}

std::vector<bool> Joins(const TransferPlan& plan) {
  std::vector<bool> joins;
  for (const v1::TensorMove& m : plan.agents[0].tasks.transfers(0).tensors()) {
    joins.push_back(m.joins_next());
  }
  return joins;
}

TEST_CASE("Tensors adjacent on every side of a transfer are marked to move as one",
          "[transfer_plan]") {
  std::vector<EndpointRecord> src = Model("t", true, 1, 1, 0);
  std::vector<EndpointRecord> dst = Model("i", false, 1, 2, 1);
  SECTION("adjacent everywhere") {
    PlaceContiguously(src);
    PlaceContiguously(dst);
    absl::StatusOr<TransferPlan> plan = Build(src, dst, 3);
    REQUIRE(plan.ok());
    CHECK(Joins(*plan) == std::vector<bool>{true, true, false});
  }
  SECTION("a gap on one receiver splits the run there") {
    PlaceContiguously(src);
    PlaceContiguously(dst);
    std::vector<EndpointRecord> gapped = dst;
    PlaceContiguously(gapped, 0);
    dst[1] = gapped[1];
    absl::StatusOr<TransferPlan> plan = Build(src, dst, 3);
    REQUIRE(plan.ok());
    CHECK(Joins(*plan) == std::vector<bool>{false, true, false});
  }
  SECTION("unknown placement never joins") {
    absl::StatusOr<TransferPlan> plan = Build(src, dst, 3);
    REQUIRE(plan.ok());
    CHECK(Joins(*plan) == std::vector<bool>{false, false, false});
  }
  SECTION("receivers that slice or forward stage whole shards never join") {
    std::vector<EndpointRecord> tp2 = Model("i", false, 2, 1, 1);
    PlaceContiguously(src);
    PlaceContiguously(tp2);
    absl::StatusOr<TransferPlan> plan = Build(src, tp2, 3);
    REQUIRE(plan.ok());
    for (const AgentWork& work : plan->agents) {
      for (const v1::TransferTask& task : work.tasks.transfers()) {
        for (const v1::TensorMove& m : task.tensors()) CHECK_FALSE(m.joins_next());
      }
    }
  }
}

TEST_CASE("Parameter mismatches are caught before any byte moves", "[transfer_plan]") {
  std::vector<EndpointRecord> src = Model("t", true, 1, 1, 0);
  SECTION("dtype") {
    std::vector<EndpointRecord> dst = Model("i", false, 1, 1, 1);
    dst[0].parameters[1].set_dtype(v1::DTYPE_FLOAT32);
    CheckError(Build(src, dst, 2).status(), absl::StatusCode::kFailedPrecondition,
               "dtype mismatch for 'proj'");
  }
  SECTION("shape") {
    std::vector<EndpointRecord> dst = Model("i", false, 1, 1, 1);
    dst[0].parameters[0].set_shape(0, 15);
    CheckError(Build(src, dst, 2).status(), absl::StatusCode::kFailedPrecondition,
               "shape mismatch for 'qkv'");
  }
  SECTION("a trainer tensor the inference rank lacks") {
    std::vector<EndpointRecord> dst = Model("i", false, 1, 1, 1);
    dst[0].parameters.pop_back();
    CheckError(Build(src, dst, 2).status(), absl::StatusCode::kFailedPrecondition,
               "registered no such parameter");
  }
  SECTION("an inference tensor nobody sends") {
    std::vector<EndpointRecord> dst = Model("i", false, 1, 1, 1);
    dst[0].parameters.push_back(Param("extra", {4}, std::nullopt));
    CheckError(Build(src, dst, 2).status(), absl::StatusCode::kFailedPrecondition,
               "would not receive 'extra'");
  }
  SECTION("a missing inference rank") {
    std::vector<EndpointRecord> dst = Model("i", false, 2, 1, 1);
    dst.pop_back();
    CheckError(Build(src, dst, 3).status(), absl::StatusCode::kFailedPrecondition,
               "missing ranks: 1");
  }
  SECTION("an unknown model") {
    CheckError(Build(src, {}, 2).status(), absl::StatusCode::kNotFound, "'i'");
  }
}

}  // namespace
}  // namespace paramsync::coordinator

namespace paramsync::coordinator {
namespace {

// A HEP model: a trainer of tp x ep ranks (dp = ep), or a TP inference model,
// with a dense weight and a stacked routed-expert weight of 8 experts
// ([experts, rows, cols], rows split by TP; experts split by EP on the trainer;
// inference: experts split by TP in the expert layout, else rows).
std::vector<EndpointRecord> HepModel(bool trainer, int tp, int ep, int first_agent, int experts,
                                     bool expert_layout) {
  std::vector<EndpointRecord> out;
  for (int rank = 0; rank < tp * ep; ++rank) {
    EndpointRecord e;
    e.spec.set_model(trainer ? "t" : "i");
    e.spec.set_role(trainer ? v1::ROLE_TRAINER : v1::ROLE_INFERENCE);
    e.spec.set_rank(rank);
    e.spec.set_local_rank(rank % tp);
    v1::ParallelConfig* p = e.spec.mutable_parallel();
    p->set_tp_size(tp);
    p->set_pp_size(1);
    p->set_ep_size(ep);
    p->set_dp_size(ep);
    p->set_tp_rank(rank % tp);
    p->set_dp_rank(rank / tp);
    p->set_ep_rank((rank / tp) % ep);
    e.agent_id = absl::StrCat("agent-", first_agent + rank);
    v1::ParameterSpec routed = trainer         ? Param("experts", {experts / ep, 16 / tp, 8}, 1)
                               : expert_layout ? Param("experts", {experts / tp, 16, 8}, 1)
                                               : Param("experts", {experts, 16 / tp, 8}, 1);
    routed.set_expert_dim(0);
    e.parameters = {Param("dense", {16 / tp, 8}, 0), routed};
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<TransferPlan> BuildHep(int src_tp, int ep, int dst_tp, v1::RegroupCommType regroup,
                                      int64_t budget = 0, int experts = 8) {
  v1::SyncGroupSpec spec = Group();
  spec.set_hep(true);
  spec.set_regroup_comm_type(regroup);
  const bool expert_layout = src_tp * ep == dst_tp;
  absl::StatusOr<SyncParticipants> participants =
      BuildSyncParticipants(spec, HepModel(true, src_tp, ep, 0, experts, false),
                            HepModel(false, dst_tp, 1, src_tp * ep, experts, expert_layout),
                            Agents(src_tp * ep + dst_tp));
  if (!participants.ok()) return participants.status();
  absl::StatusOr<planner::SyncPlan> plan = planner::BuildSyncPlan(participants->topology);
  if (!plan.ok()) return plan.status();
  TransferOptions options;
  options.staging_budget_bytes = budget;
  return BuildTransferPlan(*plan, *participants, options);
}

// Bytes that cross between different ranks in the regroups (each task once).
int64_t RegroupWireBytes(const TransferPlan& plan) {
  std::set<uint64_t> seen;
  int64_t bytes = 0;
  for (const AgentWork& work : plan.agents) {
    for (const v1::RegroupTask& task : work.tasks.regroups()) {
      if (!seen.insert(task.task_id()).second) continue;
      for (const v1::RegroupPiece& piece : task.pieces()) {
        if (piece.src_sync_rank() == piece.dst_sync_rank()) continue;
        int64_t n = 2;  // bf16
        for (int64_t d : piece.send_whole() ? piece.src_shape() : piece.src_box().extent()) n *= d;
        bytes += n;
      }
    }
  }
  return bytes;
}

TEST_CASE("HEP TP2 x EP2 -> TP4: routed experts regroup into whole-expert blocks and go one to one",
          "[transfer_plan][hep]") {
  absl::StatusOr<TransferPlan> alltoall = BuildHep(2, 2, 4, v1::REGROUP_COMM_TYPE_ALLTOALL);
  INFO(alltoall.status().ToString());
  REQUIRE(alltoall.ok());
  int routed = 0;
  for (const AgentWork& work : alltoall->agents) {
    for (const v1::TransferTask& task : work.tasks.transfers()) {
      for (const v1::TensorMove& move : task.tensors()) {
        if (move.src_name() != "experts" || task.stage() != 1) continue;
        ++routed;
        // Block of 8 / 4 experts, each whole (16 rows), sent from the regroup.
        CHECK(move.from_staging());
        CHECK(std::vector<int64_t>(move.wire_shape().begin(), move.wire_shape().end()) ==
              std::vector<int64_t>{2, 16, 8});
        CHECK(move.num_slices() == 1);
        REQUIRE(task.receivers_size() == 1);
        CHECK(task.receivers(0).sync_rank() - 4 == task.root_sync_rank());
      }
    }
  }
  CHECK(routed == 8);  // 4 pairs, each listed by its root's and its receiver's agent.
  absl::StatusOr<TransferPlan> allgather = BuildHep(2, 2, 4, v1::REGROUP_COMM_TYPE_ALLGATHER);
  REQUIRE(allgather.ok());
  // All-to-all sends each peer its part; all-gather whole shards (twice the bytes here).
  CHECK(RegroupWireBytes(*alltoall) > 0);
  CHECK(RegroupWireBytes(*allgather) == 2 * RegroupWireBytes(*alltoall));
}

TEST_CASE("HEP with unequal TP x EP gathers every expert, split by TP, into the two stages",
          "[transfer_plan][hep]") {
  absl::StatusOr<TransferPlan> plan = BuildHep(1, 4, 2, v1::REGROUP_COMM_TYPE_ALLTOALL);
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  bool found = false;
  for (const AgentWork& work : plan->agents) {
    for (const v1::TransferTask& task : work.tasks.transfers()) {
      for (const v1::TensorMove& move : task.tensors()) {
        if (move.src_name() != "experts" || task.stage() != 1) continue;
        found = true;
        CHECK(std::vector<int64_t>(move.wire_shape().begin(), move.wire_shape().end()) ==
              std::vector<int64_t>{8, 16, 8});
        CHECK(move.num_slices() == 2);  // Each inference rank keeps its TP half.
        CHECK(move.slice_dim() == 1);
      }
    }
  }
  CHECK(found);
}

TEST_CASE("A staging budget splits a staging sync into waves, none over the budget",
          "[transfer_plan][waves]") {
  // Trainer shards: dense 8x8 + experts 4x8x8 bf16 = 128 + 512 bytes, regrouped
  // experts 2x16x8 = 512 bytes: a 600-byte budget puts each in a wave of its own.
  absl::StatusOr<TransferPlan> plan = BuildHep(2, 2, 4, v1::REGROUP_COMM_TYPE_ALLTOALL, 600);
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  CHECK(plan->waves == 2);
  std::set<int> transfer_waves, regroup_waves;
  for (const AgentWork& work : plan->agents) {
    for (const v1::TransferTask& task : work.tasks.transfers()) {
      transfer_waves.insert(task.wave());
      for (const v1::TensorMove& move : task.tensors()) {
        CHECK(task.wave() == (move.src_name() == "dense" ? 0 : 1));
      }
    }
    for (const v1::RegroupTask& task : work.tasks.regroups()) regroup_waves.insert(task.wave());
  }
  CHECK(transfer_waves == std::set<int>{0, 1});
  CHECK(regroup_waves == std::set<int>{1});
  absl::StatusOr<TransferPlan> unbounded = BuildHep(2, 2, 4, v1::REGROUP_COMM_TYPE_ALLTOALL, -1);
  REQUIRE(unbounded.ok());
  CHECK(unbounded->waves == 1);
}

TEST_CASE("HEP refuses routed experts that do not split into whole-expert blocks",
          "[transfer_plan][hep]") {
  // 6 experts: 3 per EP rank, not divisible by src tp 2.
  absl::StatusOr<TransferPlan> plan = BuildHep(2, 2, 4, v1::REGROUP_COMM_TYPE_ALLTOALL, 0, 6);
  CheckError(plan.status(), absl::StatusCode::kFailedPrecondition, "'experts'");
}

TEST_CASE("TP1 PP2 -> TP2: ranks that forward one stage receive the other stage as slices",
          "[transfer_plan]") {
  // The stage-1 load balancer gives pipeline stage 0 to inference rank 0 and
  // stage 1 to rank 1, so in stage 2 each forwards to the other: a rank is
  // both a stage-2 root and a stage-2 receiver.
  std::vector<EndpointRecord> src;
  for (int stage = 0; stage < 2; ++stage) {
    EndpointRecord e;
    e.spec.set_model("t");
    e.spec.set_role(v1::ROLE_TRAINER);
    e.spec.set_rank(stage);
    v1::ParallelConfig* p = e.spec.mutable_parallel();
    p->set_tp_size(1);
    p->set_pp_size(2);
    p->set_ep_size(1);
    p->set_dp_size(1);
    p->set_pp_rank(stage);
    e.agent_id = absl::StrCat("agent-", stage);
    const std::string layer = absl::StrCat("l", stage, ".");
    e.parameters = {Param(layer + "qkv", {16, 8}, 0), Param(layer + "norm", {8}, std::nullopt)};
    src.push_back(e);
  }
  std::vector<EndpointRecord> dst = Model("i", false, 2, 1, 2);
  for (EndpointRecord& e : dst) {
    e.parameters = {Param("l0.qkv", {8, 8}, 0), Param("l0.norm", {8}, std::nullopt),
                    Param("l1.qkv", {8, 8}, 0), Param("l1.norm", {8}, std::nullopt)};
  }
  absl::StatusOr<TransferPlan> plan = Build(src, dst, 4);
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  CHECK(plan->dst_tensors == 8);
  std::set<int> stage2_roots;
  for (const AgentWork& work : plan->agents) {
    for (const v1::TransferTask& task : work.tasks.transfers()) {
      if (task.stage() != 2) continue;
      stage2_roots.insert(task.root_sync_rank());
      // What a rank receives in stage 2 it keeps; only stage 1 is staged to forward.
      for (const v1::Receiver& r : task.receivers()) CHECK_FALSE(r.stage_whole());
    }
  }
  CHECK(stage2_roots == std::set<int>{2, 3});
}

TEST_CASE("TP2 -> TP4: large dim-0 shards travel as slices, each receiver staging only others",
          "[transfer_plan]") {
  // "big" is a 2 MiB dim-0 shard; "qkv" (small), "proj" (dim 1) and "norm"
  // (replicated) travel whole.
  auto with_big = [](std::vector<EndpointRecord> model, int tp) {
    for (EndpointRecord& e : model) e.parameters.push_back(Param("big", {2048 / tp, 1024}, 0));
    return model;
  };
  absl::StatusOr<TransferPlan> plan =
      Build(with_big(Model("t", true, 2, 1, 0), 2), with_big(Model("i", false, 4, 1, 2), 4), 6);
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  int sliced = 0;
  for (const AgentWork& work : plan->agents) {
    for (const v1::TransferTask& task : work.tasks.transfers()) {
      for (const v1::TensorMove& m : task.tensors()) {
        const bool expected = task.stage() == 1 && m.src_name() == "big";
        CHECK(m.sliced_on_wire() == expected);
        sliced += m.sliced_on_wire();
        // Stage 2 forwards from the staged slices, one receiver's slice at a time.
        if (task.stage() == 2 && m.src_name() == "big") CHECK(m.sender_slices());
      }
    }
  }
  CHECK(sliced == 4);  // 2 stage-1 tasks, each listed by its root's and its receiver's agent.
}

}  // namespace
}  // namespace paramsync::coordinator
