// The direct planner's choices and refusals on small topologies, and the
// agents' work it becomes (BuildDirectTransferPlan).
#include "coordinator/reshard/direct_plan_builder.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/reshard/direct_plan_proto.h"
#include "coordinator/reshard/direct_transfer_plan.h"
#include "tests/reshard/check_status.h"
#include "tests/reshard/reshard_topology.h"

namespace paramsync::coordinator {
namespace {

using testing::CheckError;
using testing::Side;

// "a" and "b" column-parallel [24, 4] (adjacent in one allocation, in that
// order), "c" row-parallel [4, 24], "norm" replicated.
std::vector<v1::ParameterSpec> Tensors(const Side& side, int, int, int) {
  std::vector<v1::ParameterSpec> out = {
      testing::Tensor("a", {24 / side.tp, 4}, 0), testing::Tensor("b", {24 / side.tp, 4}, 0),
      testing::Tensor("c", {4, 24 / side.tp}, 1), testing::Tensor("norm", {4}, std::nullopt)};
  uint64_t offset = 0;
  for (v1::ParameterSpec& p : out) {
    p.set_storage("shm:x");
    p.set_storage_offset(offset);
    int64_t elements = 1;
    for (int64_t d : p.shape()) elements *= d;
    offset += elements * 4;
  }
  return out;
}

absl::StatusOr<SyncParticipants> Build(const Side& src, const Side& dst,
                                       const std::function<int(int)>& dst_agent, int agents,
                                       const testing::TensorsOf& dst_tensors = Tensors) {
  return testing::Participants(testing::Endpoints(
                                   "t", true, src, [](int r) { return r; }, Tensors),
                               testing::Endpoints("i", false, dst, dst_agent, dst_tensors),
                               testing::Agents(agents));
}

// Participants and the moves planned for them (which point into them).
struct Planned {
  SyncParticipants participants;
  DirectMoves moves;
};

// The plan of trainer `src` (rank r on agent r) -> inference `dst` (rank r on
// agent dst_agent(r)); fails the test when either step fails.
std::unique_ptr<Planned> Plan(const Side& src, const Side& dst,
                              const std::function<int(int)>& dst_agent, int agents) {
  auto planned = std::make_unique<Planned>();
  absl::StatusOr<SyncParticipants> participants = Build(src, dst, dst_agent, agents);
  INFO(participants.status().ToString());
  REQUIRE(participants.ok());
  planned->participants = *std::move(participants);
  absl::StatusOr<DirectMoves> moves = PlanDirectMoves(planned->participants);
  INFO(moves.status().ToString());
  REQUIRE(moves.ok());
  planned->moves = *std::move(moves);
  return planned;
}

TEST_CASE("TP4 -> TP2: each receiver takes one half of each of two senders' shards, once",
          "[reshard][direct]") {
  const std::unique_ptr<Planned> planned = Plan(
      Side{4}, Side{2}, [](int r) { return 4 + r; }, 6);
  const SyncParticipants& participants = planned->participants;
  const DirectMoves& moves = planned->moves;
  // Two receivers x (a, b, c: two pieces each; norm: one).
  CHECK(moves.moves.size() == 2 * (3 * 2 + 1));
  CHECK(moves.dst_bytes == 2 * (3 * 12 * 4 + 4) * 4);
  CHECK(moves.dst_tensors == 8);
  std::map<int, std::set<int>> senders;
  for (const BoxMove& m : moves.moves) senders[m.dst_rank].insert(m.src_rank);
  CHECK(senders[4] == std::set<int>{0, 1});
  CHECK(senders[5] == std::set<int>{2, 3});

  const TransferPlan transfer = BuildDirectTransferPlan(participants, moves);
  CHECK(transfer.wire_bytes == moves.dst_bytes);
  CHECK(transfer.waves == 1);
  // Receiver 4 exchanges with senders 0 and 1, receiver 5 with 2 and 3: two groups.
  const v1::SyncPlan plan = DirectPlanToProto(moves, transfer);
  CHECK(plan.strategy() == v1::SYNC_STRATEGY_KIND_DIRECT);
  CHECK(
      std::vector<std::string>(plan.collective_groups().begin(), plan.collective_groups().end()) ==
      std::vector<std::string>{"g_direct_0", "g_direct_1"});
  REQUIRE(plan.direct_pairs_size() == 4);
  CHECK(plan.direct_pairs(0).src() == 0);
  CHECK(plan.direct_pairs(0).dst() == 4);
  CHECK(plan.wire_bytes() == moves.dst_bytes);
  for (const AgentWork& work : transfer.agents) {
    CHECK(work.tasks.transfers().empty());
    for (const v1::RegroupTask& task : work.tasks.regroups()) {
      CHECK(task.stage() == 1);
      for (int i = 0; i < task.pieces_size(); ++i) {
        const v1::RegroupPiece& piece = task.pieces(i);
        // Only pieces the agent's own rank (sync rank = agent index) takes part in.
        const std::string own = work.agent.agent_id();
        CHECK((own == absl::StrCat("agent-", piece.src_sync_rank()) ||
               own == absl::StrCat("agent-", piece.dst_sync_rank())));
        CHECK(piece.lands_in_tensor());
        CHECK(piece.dst_name() == piece.name());
        // A sender's half of "a" and of "b" are not adjacent in the receiver.
        CHECK_FALSE(piece.joins_next());
      }
    }
  }
}

TEST_CASE("TP2 -> TP2: tensors adjacent in memory on both sides move as one operation",
          "[reshard][direct]") {
  const std::unique_ptr<Planned> planned = Plan(
      Side{2}, Side{2}, [](int r) { return 2 + r; }, 4);
  const SyncParticipants& participants = planned->participants;
  const DirectMoves& moves = planned->moves;
  const TransferPlan transfer = BuildDirectTransferPlan(participants, moves);
  REQUIRE(transfer.agents.size() == 4);
  const v1::AgentTasks& tasks = transfer.agents[0].tasks;
  REQUIRE(tasks.regroups_size() == 1);
  const v1::RegroupTask& task = tasks.regroups(0);
  std::vector<std::string> order;
  std::vector<bool> joins;
  for (const v1::RegroupPiece& piece : task.pieces()) {
    order.push_back(piece.name());
    joins.push_back(piece.joins_next());
  }
  CHECK(order == std::vector<std::string>{"a", "b", "c", "norm"});
  CHECK(joins == std::vector<bool>{true, true, true, false});
}

TEST_CASE("A replicated tensor comes from a sender on the receiver's agent, else the least loaded",
          "[reshard][direct]") {
  // Colocated TP2 -> TP2 x 2 replicas: replica 0 on the trainer's agents.
  const std::unique_ptr<Planned> planned = Plan(
      Side{2}, Side{2, 1, 2}, [](int r) { return r; }, 4);
  const SyncParticipants& participants = planned->participants;
  const DirectMoves& moves = planned->moves;
  std::map<std::pair<int, std::string>, std::set<int>> from;
  for (const BoxMove& m : moves.moves) from[{m.dst_rank, m.dst_tensor->name()}].insert(m.src_rank);
  // Replica 0 (sync ranks 2, 3) copies on its own agents.
  CHECK(from[{2, "norm"}] == std::set<int>{0});
  CHECK(from[{3, "norm"}] == std::set<int>{1});
  // Replica 1 (ranks 4, 5, agents 2, 3 hold no trainer rank): the norm from
  // whichever trainer rank sent less so far.
  CHECK(from[{4, "norm"}].size() == 1);
  CHECK(from[{5, "norm"}].size() == 1);
  CHECK(from[{4, "norm"}] != from[{5, "norm"}]);
}

TEST_CASE("Elements no trainer rank holds are named, ranks and tensors first few",
          "[reshard][direct]") {
  auto extra = [](const Side& side, int tp_rank, int pp_rank, int ep_rank) {
    std::vector<v1::ParameterSpec> tensors = Tensors(side, tp_rank, pp_rank, ep_rank);
    for (int i = 0; i < 3; ++i) {
      tensors.push_back(testing::Tensor(absl::StrCat("missing", i), {4}, std::nullopt));
    }
    return tensors;
  };
  absl::StatusOr<SyncParticipants> participants = Build(
      Side{2}, Side{3, 1, 2}, [](int r) { return 2 + r; }, 8, extra);
  REQUIRE(participants.ok());
  const absl::Status status = PlanDirectMoves(*participants).status();
  CheckError(status, absl::StatusCode::kFailedPrecondition,
             "i rank 0 (sync rank 2) tensor 'missing0' lacks 4 of 4 elements of logical "
             "'missing0' (first at [0]), which no trainer rank holds");
  // 6 ranks x 3 tensors, 8 shown.
  CheckError(status, absl::StatusCode::kFailedPrecondition, "; and 10 more");
}

TEST_CASE("A destination whose dtype differs from its source's is refused", "[reshard][direct]") {
  auto half = [](const Side& side, int tp_rank, int pp_rank, int ep_rank) {
    std::vector<v1::ParameterSpec> tensors = Tensors(side, tp_rank, pp_rank, ep_rank);
    tensors[2].set_dtype(v1::DTYPE_BFLOAT16);
    return tensors;
  };
  absl::StatusOr<SyncParticipants> participants = Build(
      Side{2}, Side{3}, [](int r) { return 2 + r; }, 5, half);
  REQUIRE(participants.ok());
  CheckError(PlanDirectMoves(*participants).status(), absl::StatusCode::kFailedPrecondition,
             "dtype mismatch for logical parameter 'c': t rank 0 (sync rank 0) tensor 'c' is "
             "float32, i rank 0 (sync rank 2) tensor 'c' is bfloat16");
}

TEST_CASE("Boxes that are not contiguous are packed in waves under the staging budget",
          "[reshard][direct]") {
  // TP2 -> TP3: "c" splits on dim 1, so its boxes are strided on both sides.
  const std::unique_ptr<Planned> planned = Plan(
      Side{2}, Side{3}, [](int r) { return 2 + r; }, 5);
  const SyncParticipants& participants = planned->participants;
  const DirectMoves& moves = planned->moves;
  TransferOptions options;
  options.staging_budget_bytes = 1;  // Every staging tensor a wave of its own.
  const TransferPlan transfer = BuildDirectTransferPlan(participants, moves, options);
  // Only "c" stages, so it is the only tensor after the first wave's.
  CHECK(transfer.waves == 2);
  for (const AgentWork& work : transfer.agents) {
    for (const v1::RegroupTask& task : work.tasks.regroups()) {
      for (const v1::RegroupPiece& piece : task.pieces()) {
        CHECK(task.wave() == (piece.name() == "norm" ? 1 : 0));
      }
    }
  }
}

}  // namespace
}  // namespace paramsync::coordinator
