// LoRA in sync plans: the group's lora_mode decides which tensors both
// strategies plan (lora_parameters.h), and which trainer endpoints merge
// before a MERGE sync (lora_merge_plan.h). Planned from real participants,
// not run.
#include <catch2/catch.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/planner/plan_builder.h"
#include "coordinator/reshard/direct_plan_builder.h"
#include "coordinator/reshard/direct_transfer_plan.h"
#include "coordinator/sync/lora_merge_plan.h"
#include "coordinator/sync/sync_participants.h"
#include "coordinator/sync/transfer_plan_builder.h"
#include "coordinator/sync/validation_plan.h"
#include "tests/coordinator/plan_fixtures.h"

namespace paramsync::coordinator {
namespace {

using testing::Agents;
using testing::Param;

v1::ParameterSpec Adapter(const std::string& base, v1::LoraRole role, std::vector<int64_t> shape,
                          std::optional<int> split) {
  v1::ParameterSpec p =
      Param(absl::StrCat(base, role == v1::LORA_ROLE_A ? ".lora_A" : ".lora_B"), shape, split);
  p.mutable_lora()->set_role(role);
  p.mutable_lora()->set_base(base);
  p.mutable_lora()->set_scale(0.5);
  return p;
}

enum class Tensors {
  kWeights,      // Weights only.
  kAdapters,     // Weights and, interleaved, a rank-2 adapter of each 2-D weight.
  kAdapterOnly,  // The adapters alone, as plain tensors (no LoRA spec).
};

// testing::Model's ranks with `tensors`: adapters split with their base as a
// framework shards them, B with a column-parallel W, A with a row-parallel one.
std::vector<EndpointRecord> Model(const std::string& model, bool trainer, int tp, int replicas,
                                  int first_agent, Tensors tensors) {
  std::vector<EndpointRecord> out = testing::Model(model, trainer, tp, replicas, first_agent);
  for (EndpointRecord& e : out) {
    const std::vector<v1::ParameterSpec> adapters = {
        Adapter("qkv", v1::LORA_ROLE_A, {2, 8}, std::nullopt),
        Adapter("qkv", v1::LORA_ROLE_B, {16 / tp, 2}, 0),
        Adapter("proj", v1::LORA_ROLE_A, {2, 16 / tp}, 1),
        Adapter("proj", v1::LORA_ROLE_B, {8, 2}, std::nullopt)};
    if (tensors == Tensors::kAdapterOnly) {
      e.parameters.clear();
      for (v1::ParameterSpec adapter : adapters) {
        adapter.clear_lora();
        e.parameters.push_back(adapter);
      }
    } else if (tensors == Tensors::kAdapters) {
      // qkv, its adapter, proj, its adapter, norm.
      e.parameters.insert(e.parameters.begin() + 2, adapters.begin() + 2, adapters.end());
      e.parameters.insert(e.parameters.begin() + 1, adapters.begin(), adapters.begin() + 2);
    }
  }
  return out;
}

v1::SyncGroupSpec Group(v1::SyncStrategyKind strategy, v1::LoraMode mode) {
  v1::SyncGroupSpec spec;
  spec.set_name("g");
  spec.set_src_model("t");
  spec.set_dst_model("i");
  spec.set_strategy(strategy);
  spec.set_lora_mode(mode);
  return spec;
}

struct Planned {
  SyncParticipants participants;
  TransferPlan transfer;
};

// What SyncManager plans for `group`, by its strategy.
absl::StatusOr<Planned> Plan(const v1::SyncGroupSpec& group, std::vector<EndpointRecord> src,
                             std::vector<EndpointRecord> dst, int agents) {
  Planned out;
  absl::StatusOr<SyncParticipants> participants =
      BuildSyncParticipants(group, std::move(src), std::move(dst), Agents(agents));
  if (!participants.ok()) return participants.status();
  out.participants = *std::move(participants);
  if (group.strategy() == v1::SYNC_STRATEGY_KIND_DIRECT) {
    absl::StatusOr<DirectMoves> moves = PlanDirectMoves(out.participants);
    if (!moves.ok()) return moves.status();
    out.transfer = BuildDirectTransferPlan(out.participants, *moves);
    return out;
  }
  absl::StatusOr<planner::SyncPlan> plan = planner::BuildSyncPlan(out.participants.topology);
  if (!plan.ok()) return plan.status();
  absl::StatusOr<TransferPlan> transfer = BuildTransferPlan(*plan, out.participants);
  if (!transfer.ok()) return transfer.status();
  out.transfer = *std::move(transfer);
  return out;
}

// Everything agents are told of `plan`, for comparing two plans.
std::vector<std::string> Work(const TransferPlan& plan) {
  std::vector<std::string> out = {absl::StrCat(plan.dst_tensors, " tensors ", plan.dst_bytes,
                                               " bytes ", plan.wire_bytes, " on the wire ",
                                               plan.waves, " waves")};
  for (const AgentWork& work : plan.agents) {
    out.push_back(absl::StrCat(work.agent.agent_id(), " ", work.groups.DebugString(),
                               work.tasks.DebugString(), work.receivers.size(), " receivers"));
  }
  return out;
}

// The destination tensor names the plan's tasks write.
std::set<std::string> Written(const TransferPlan& plan) {
  std::set<std::string> names;
  for (const AgentWork& work : plan.agents) {
    for (const v1::TransferTask& task : work.tasks.transfers()) {
      for (const v1::TensorMove& move : task.tensors()) names.insert(move.dst_name());
    }
    for (const v1::RegroupTask& task : work.tasks.regroups()) {
      for (const v1::RegroupPiece& piece : task.pieces()) {
        names.insert(piece.dst_name().empty() ? piece.name() : piece.dst_name());
      }
    }
  }
  return names;
}

// "agent: model rank r, ..." for each agent that merges.
std::vector<std::string> Merges(const std::vector<v1::LoraRequest>& requests,
                                const TransferPlan& plan) {
  std::vector<std::string> out;
  for (size_t i = 0; i < requests.size(); ++i) {
    CHECK(requests[i].action() == v1::LORA_ACTION_MERGE);
    if (requests[i].endpoints().empty()) continue;
    std::string line = absl::StrCat(plan.agents[i].agent.agent_id(), ":");
    for (const v1::EndpointRef& ref : requests[i].endpoints()) {
      absl::StrAppend(&line, " ", ref.model(), " rank ", ref.rank());
    }
    out.push_back(line);
  }
  return out;
}

const v1::SyncStrategyKind kStrategies[] = {v1::SYNC_STRATEGY_KIND_CHATLEARN,
                                            v1::SYNC_STRATEGY_KIND_DIRECT};

TEST_CASE("MERGE (or unset) plans the bases as a model without adapters, for both strategies",
          "[lora_plan]") {
  for (v1::SyncStrategyKind strategy : kStrategies) {
    const absl::StatusOr<Planned> plain = Plan(Group(strategy, v1::LORA_MODE_UNSPECIFIED),
                                               Model("t", true, 2, 1, 0, Tensors::kWeights),
                                               Model("i", false, 4, 1, 2, Tensors::kWeights), 6);
    REQUIRE(plain.ok());
    for (v1::LoraMode mode : {v1::LORA_MODE_UNSPECIFIED, v1::LORA_MODE_MERGE}) {
      INFO(v1::SyncStrategyKind_Name(strategy) << " " << v1::LoraMode_Name(mode));
      // Inference adapters (vLLM's LoRA slots) are left out as well.
      const absl::StatusOr<Planned> merged =
          Plan(Group(strategy, mode), Model("t", true, 2, 1, 0, Tensors::kAdapters),
               Model("i", false, 4, 1, 2, Tensors::kAdapters), 6);
      INFO(merged.status().ToString());
      REQUIRE(merged.ok());
      CHECK(Work(merged->transfer) == Work(plain->transfer));
      CHECK(Written(merged->transfer) == std::set<std::string>{"qkv", "proj", "norm"});
      const std::set<std::string> bases = {"qkv", "proj"};
      CHECK(merged->participants.lora_bases == AdaptedBases{{0, bases}, {1, bases}});
      for (const SyncRank& rank : merged->participants.ranks) {
        CHECK(rank.endpoint.parameters.size() == 3);
      }
      // Both trainer ranks send their bases, so both merge, each on its agent.
      CHECK(Merges(BuildLoraMergeRequests(merged->participants, merged->transfer, nullptr),
                   merged->transfer) ==
            std::vector<std::string>{"agent-0: t rank 0", "agent-1: t rank 1"});
    }
  }
}

TEST_CASE("ADAPTERS_ONLY plans the adapters alone, for both strategies", "[lora_plan]") {
  for (v1::SyncStrategyKind strategy : kStrategies) {
    INFO(v1::SyncStrategyKind_Name(strategy));
    const absl::StatusOr<Planned> plain =
        Plan(Group(strategy, v1::LORA_MODE_UNSPECIFIED),
             Model("t", true, 2, 1, 0, Tensors::kAdapterOnly),
             Model("i", false, 4, 1, 2, Tensors::kAdapterOnly), 6);
    INFO(plain.status().ToString());
    REQUIRE(plain.ok());
    // Inference slots need not name a base.
    std::vector<EndpointRecord> slots = Model("i", false, 4, 1, 2, Tensors::kAdapters);
    for (EndpointRecord& e : slots) {
      for (v1::ParameterSpec& p : e.parameters) p.mutable_lora()->clear_base();
    }
    const absl::StatusOr<Planned> adapters =
        Plan(Group(strategy, v1::LORA_MODE_ADAPTERS_ONLY),
             Model("t", true, 2, 1, 0, Tensors::kAdapters), slots, 6);
    INFO(adapters.status().ToString());
    REQUIRE(adapters.ok());
    CHECK(Work(adapters->transfer) == Work(plain->transfer));
    CHECK(Written(adapters->transfer) ==
          std::set<std::string>{"qkv.lora_A", "qkv.lora_B", "proj.lora_A", "proj.lora_B"});
    // 4 inference ranks x (qkv A 2x8 + B 4x2, proj A 2x4 + B 8x2) bf16 elements.
    CHECK(adapters->transfer.dst_bytes == 4 * (16 + 8 + 8 + 16) * 2);
    // Nothing merges.
    CHECK(adapters->participants.lora_bases.empty());
    CHECK(BuildLoraMergeRequests(adapters->participants, adapters->transfer, nullptr).empty());
  }
}

TEST_CASE("ADAPTERS_ONLY with no adapter on a side fails, naming the group and the model",
          "[lora_plan]") {
  const v1::SyncGroupSpec group =
      Group(v1::SYNC_STRATEGY_KIND_CHATLEARN, v1::LORA_MODE_ADAPTERS_ONLY);
  const absl::Status no_trainer = Plan(group, Model("t", true, 2, 1, 0, Tensors::kWeights),
                                       Model("i", false, 2, 1, 2, Tensors::kAdapters), 4)
                                      .status();
  INFO(no_trainer.ToString());
  CHECK(no_trainer.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(no_trainer.message())
            .find("sync group 'g' has lora_mode LORA_MODE_ADAPTERS_ONLY but trainer model 't' "
                  "registered no LoRA adapter") != std::string::npos);
  const absl::Status no_inference = Plan(group, Model("t", true, 2, 1, 0, Tensors::kAdapters),
                                         Model("i", false, 2, 1, 2, Tensors::kWeights), 4)
                                        .status();
  INFO(no_inference.ToString());
  CHECK(no_inference.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(no_inference.message()).find("inference model 'i' registered no LoRA") !=
        std::string::npos);
}

TEST_CASE("A group without adapters plans as before in every mode that can sync it",
          "[lora_plan]") {
  for (v1::SyncStrategyKind strategy : kStrategies) {
    INFO(v1::SyncStrategyKind_Name(strategy));
    const auto plan = [&](v1::LoraMode mode) {
      absl::StatusOr<Planned> planned =
          Plan(Group(strategy, mode), Model("t", true, 2, 2, 0, Tensors::kWeights),
               Model("i", false, 2, 2, 4, Tensors::kWeights), 8);
      REQUIRE(planned.ok());
      CHECK(planned->participants.lora_bases.empty());
      CHECK(BuildLoraMergeRequests(planned->participants, planned->transfer, nullptr).empty());
      return Work(planned->transfer);
    };
    CHECK(plan(v1::LORA_MODE_MERGE) == plan(v1::LORA_MODE_UNSPECIFIED));
  }
}

TEST_CASE("Only trainer ranks whose adapted bases the sync reads merge, digests included",
          "[lora_plan]") {
  // Trainer rank 1 alone registered adapters.
  std::vector<EndpointRecord> trainer = Model("t", true, 2, 1, 0, Tensors::kWeights);
  trainer[1] = Model("t", true, 2, 1, 0, Tensors::kAdapters)[1];
  absl::StatusOr<Planned> one = Plan(Group(v1::SYNC_STRATEGY_KIND_CHATLEARN, v1::LORA_MODE_MERGE),
                                     trainer, Model("i", false, 2, 1, 2, Tensors::kWeights), 4);
  REQUIRE(one.ok());
  CHECK(Merges(BuildLoraMergeRequests(one->participants, one->transfer, nullptr), one->transfer) ==
        std::vector<std::string>{"agent-1: t rank 1"});

  // Two data-parallel trainer replicas, the second on the inference ranks'
  // agents: ChatLearn sends from the first only, which its validation digests
  // too. The second replica is left alone.
  absl::StatusOr<Planned> replicas =
      Plan(Group(v1::SYNC_STRATEGY_KIND_CHATLEARN, v1::LORA_MODE_MERGE),
           Model("t", true, 2, 2, 0, Tensors::kAdapters),
           Model("i", false, 2, 1, 2, Tensors::kAdapters), 4);
  REQUIRE(replicas.ok());
  const std::vector<std::string> first = {"agent-0: t rank 0", "agent-1: t rank 1"};
  CHECK(Merges(BuildLoraMergeRequests(replicas->participants, replicas->transfer, nullptr),
               replicas->transfer) == first);
  absl::StatusOr<ValidationPlan> validation =
      BuildValidationPlan(replicas->participants, replicas->transfer);
  REQUIRE(validation.ok());
  CHECK(Merges(BuildLoraMergeRequests(replicas->participants, replicas->transfer, &*validation),
               replicas->transfer) == first);

  // A digest of a copy the transfer does not read makes its rank merge too.
  ValidationPlan reads_second = *validation;
  for (size_t i = 0; i < replicas->transfer.agents.size(); ++i) {
    if (replicas->transfer.agents[i].agent.agent_id() != "agent-3") continue;
    v1::DigestItem* item = reads_second.requests[i].add_items();
    item->mutable_endpoint()->set_model("t");
    item->mutable_endpoint()->set_rank(3);
    item->set_name("proj");
  }
  CHECK(Merges(BuildLoraMergeRequests(replicas->participants, replicas->transfer, &reads_second),
               replicas->transfer) ==
        std::vector<std::string>{"agent-0: t rank 0", "agent-1: t rank 1", "agent-3: t rank 3"});
}

}  // namespace
}  // namespace paramsync::coordinator
