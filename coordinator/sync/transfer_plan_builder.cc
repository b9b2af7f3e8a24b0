#include "coordinator/sync/transfer_plan_builder.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/dtype.h"
#include "common/status_macros.h"
#include "coordinator/sync/regroup_plan_builder.h"
#include "coordinator/sync/staging_waves.h"
#include "coordinator/sync/wire_bytes.h"

namespace paramsync::coordinator {
namespace {

// Whether `b` starts where `a` ends in the same allocation.
bool Adjacent(const v1::ParameterSpec& a, const v1::ParameterSpec& b) {
  if (a.storage().empty() || a.storage() != b.storage()) return false;
  absl::StatusOr<uint64_t> bytes = TensorBytes(a.dtype(), a.shape());
  return bytes.ok() && a.storage_offset() + *bytes == b.storage_offset();
}

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// Shards at least this large travel sliced on the wire where they can
// (TensorMove.sliced_on_wire): smaller ones save little staging and would cost
// an operation per slice.
constexpr uint64_t kSlicedOnWireMinBytes = 1 << 20;

// A tensor move and the staging wave it belongs to.
struct WaveMove {
  v1::TensorMove move;
  int wave = 0;
};

// Builds the tensor moves of one broadcast and records, per receiver, what it
// will hold afterwards.
class TaskAssembler {
 public:
  TaskAssembler(const planner::SyncPlan& plan, const SyncParticipants& participants,
                const RegroupPlan& regroup, const StagingWaves& waves)
      : plan_(plan),
        participants_(participants),
        regroup_(regroup),
        waves_(waves),
        next_task_id_(regroup.next_task_id) {
    for (const planner::PlannedTransfer& t : plan.transfers) {
      routed_mapping_ |= t.param_group == "routed";
    }
  }

  // (param group, stage, sync rank): a rank that forwards in `stage` what it
  // received of a param group in the stage before.
  using Forwarder = std::tuple<std::string, int, int>;

  // The broadcast's tasks: one per staging wave it has tensors in.
  absl::StatusOr<std::vector<v1::TransferTask>> Assemble(const planner::PlannedTransfer& broadcast,
                                                         const std::set<Forwarder>& stage2_roots) {
    v1::TransferTask base;
    base.set_stage(broadcast.stage);
    base.set_group(broadcast.group_name);
    base.set_root_sync_rank(broadcast.root);
    const int k = plan_.tp_num_mapping;
    for (int receiver : broadcast.receivers) {
      v1::Receiver* r = base.add_receivers();
      r->set_sync_rank(receiver);
      r->set_slice_index(k > 1 ? Rank(receiver).endpoint.spec.parallel().tp_rank() % k : 0);
      // Staged whole only where the receiver forwards it next: a stage-2 root
      // that also receives in stage 2 (trainer PP with two stages spreads the
      // pipeline stages over a k-group's ranks) keeps that part as its slice.
      r->set_stage_whole(
          broadcast.stage == 1 &&
          stage2_roots.count({broadcast.param_group, broadcast.stage + 1, receiver}) > 0);
    }
    ASSIGN_OR_RETURN(std::vector<WaveMove> moves, MovesFrom(broadcast));
    // Large dim-0 shards of stage 1 travel as their slices: each receiver's own
    // slice lands in its tensor, only the others are staged (and forwarded one
    // receiver's slice at a time: stage-2 groups are pairs).
    if (broadcast.stage == 1) {
      for (WaveMove& m : moves) m.move.set_sliced_on_wire(SlicesOnWire(m.move));
    }
    // A forward to one receiver carries only its slice (ChatLearn sends the
    // whole shard and lets the receiver cut it).
    if (broadcast.stage > 1 && broadcast.receivers.size() == 1) {
      for (WaveMove& m : moves) m.move.set_sender_slices(m.move.num_slices() > 1);
    }
    std::map<int, std::vector<v1::TensorMove>> by_wave;
    for (WaveMove& m : moves) by_wave[m.wave].push_back(std::move(m.move));
    std::vector<v1::TransferTask> tasks;
    for (auto& [wave, wave_moves] : by_wave) {
      v1::TransferTask task = base;
      task.set_task_id(next_task_id_++);
      task.set_wave(wave);
      MarkJoins(broadcast, task, wave_moves);
      for (v1::TensorMove& move : wave_moves) {
        for (const v1::Receiver& r : task.receivers()) {
          RETURN_IF_ERROR(
              CheckAndRecord(move, wave, broadcast, Rank(r.sync_rank()), r.stage_whole()));
        }
        *task.add_tensors() = std::move(move);
      }
      tasks.push_back(std::move(task));
    }
    return tasks;
  }

  // FAILED_PRECONDITION naming inference ranks that would lack a parameter.
  absl::Status CheckCoverage() const {
    std::vector<std::string> problems;
    for (int r = participants_.num_src; r < static_cast<int>(participants_.ranks.size()); ++r) {
      const SyncRank& rank = Rank(r);
      auto it = received_.find(r);
      for (const v1::ParameterSpec& p : rank.endpoint.parameters) {
        if (it == received_.end() || it->second.count(p.name()) == 0) {
          problems.push_back(absl::StrCat(Describe(rank), " would not receive '", p.name(), "'"));
        }
      }
    }
    if (problems.empty()) return absl::OkStatus();
    const size_t shown = std::min<size_t>(problems.size(), 8);
    return absl::FailedPreconditionError(absl::StrCat(
        "plan leaves parameters without weights: ",
        absl::StrJoin(problems.begin(), problems.begin() + shown, "; "),
        problems.size() > shown ? absl::StrCat("; and ", problems.size() - shown, " more") : ""));
  }

 private:
  const SyncRank& Rank(int sync_rank) const { return participants_.ranks[sync_rank]; }

  // `sync_rank`'s parameter `name`, or nullptr.
  const v1::ParameterSpec* Parameter(int sync_rank, const std::string& name) {
    auto [it, inserted] = parameters_.try_emplace(sync_rank);
    if (inserted) {
      for (const v1::ParameterSpec& p : Rank(sync_rank).endpoint.parameters)
        it->second[p.name()] = &p;
    }
    auto found = it->second.find(name);
    return found == it->second.end() ? nullptr : found->second;
  }

  // Sets joins_next where consecutive tensors are adjacent in memory on the
  // root and on every receiver, and every receiver takes them straight into its
  // tensors (staged receives land in separate buffers). Tensors sent from
  // staging (stage-2 roots, regrouped experts) sit in buffers of their own, so
  // they never join.
  void MarkJoins(const planner::PlannedTransfer& broadcast, const v1::TransferTask& task,
                 std::vector<v1::TensorMove>& moves) {
    for (const v1::Receiver& r : task.receivers()) {
      if (r.stage_whole()) return;
    }
    for (size_t i = 0; i + 1 < moves.size(); ++i) {
      if (moves[i].num_slices() > 1 || moves[i + 1].num_slices() > 1) continue;
      if (moves[i].from_staging() || moves[i + 1].from_staging()) continue;
      const v1::ParameterSpec* a = Parameter(broadcast.root, moves[i].src_name());
      const v1::ParameterSpec* b = Parameter(broadcast.root, moves[i + 1].src_name());
      bool joins = a != nullptr && b != nullptr && Adjacent(*a, *b);
      for (int receiver : broadcast.receivers) {
        if (!joins) break;
        a = Parameter(receiver, moves[i].dst_name());
        b = Parameter(receiver, moves[i + 1].dst_name());
        joins = a != nullptr && b != nullptr && Adjacent(*a, *b);
      }
      moves[i].set_joins_next(joins);
    }
  }

  // Whether `move` (of stage 1) can travel as its slices: split, each slice
  // contiguous in the shard, and large enough to be worth the operations.
  static bool SlicesOnWire(const v1::TensorMove& move) {
    if (move.num_slices() < 2) return false;
    for (int d = 0; d < move.slice_dim(); ++d) {
      if (move.wire_shape(d) != 1) return false;
    }
    return TensorBytes(move.dtype(), move.wire_shape()).value_or(0) >= kSlicedOnWireMinBytes;
  }

  // Stage 1: the trainer rank's parameters of the transfer's param group
  // (routed experts as regrouped, where they are). Later stages: what the root
  // itself received whole in the stage before.
  absl::StatusOr<std::vector<WaveMove>> MovesFrom(const planner::PlannedTransfer& broadcast) const {
    std::vector<WaveMove> moves;
    if (broadcast.stage > 1) {
      auto it = whole_moves_.find({broadcast.param_group, broadcast.stage - 1, broadcast.root});
      if (it == whole_moves_.end()) {
        return absl::FailedPreconditionError(
            absl::StrCat("stage ", broadcast.stage, " sends from ", Describe(Rank(broadcast.root)),
                         ", which receives nothing in the stage before"));
      }
      return it->second;
    }
    const int k = plan_.tp_num_mapping;
    const bool routed_group = broadcast.param_group == "routed";
    for (const v1::ParameterSpec& p : Rank(broadcast.root).endpoint.parameters) {
      const bool routed = IsRouted(participants_.topology, p);
      // Without a mapping of their own (the seed's HEP with unequal TP x EP),
      // routed experts travel with the other weights.
      const bool excluded = broadcast.param_group == "except_routed" && routed && routed_mapping_;
      if ((routed_group && !routed) || excluded) continue;
      v1::TensorMove move;
      move.set_src_name(p.name());
      move.set_dst_name(p.name());
      move.set_dtype(p.dtype());
      *move.mutable_wire_shape() = p.shape();
      if (const std::vector<int64_t>* shape = regroup_.RegroupedShape(broadcast.root, p.name())) {
        *move.mutable_wire_shape() = {shape->begin(), shape->end()};
        move.set_from_staging(true);
      }
      // Routed experts on their own mapping go one to one, whole.
      const bool sliced = k > 1 && p.has_tp_split_dim() && !routed_group;
      move.set_slice_dim(sliced ? p.tp_split_dim() : 0);
      move.set_num_slices(sliced ? k : 1);
      moves.push_back({std::move(move), waves_.WaveOf(broadcast.root, p.name())});
    }
    return moves;
  }

  // Checks what `receiver` gets and, where it forwards it in stage 2, records it.
  absl::Status CheckAndRecord(const v1::TensorMove& move, int wave,
                              const planner::PlannedTransfer& broadcast, const SyncRank& receiver,
                              bool forwards) {
    const v1::ParameterSpec* dst = Parameter(receiver.sync_rank, move.dst_name());
    const std::string sender = Describe(Rank(broadcast.root));
    if (dst == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(sender, " sends '", move.src_name(),
                                                        "' but ", Describe(receiver),
                                                        " registered no such parameter"));
    }
    if (dst->dtype() != move.dtype()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "dtype mismatch for '", move.dst_name(), "': ", sender, " has ", DTypeName(move.dtype()),
          ", ", Describe(receiver), " has ", DTypeName(dst->dtype())));
    }
    std::vector<int64_t> expected(move.wire_shape().begin(), move.wire_shape().end());
    if (move.num_slices() > 1) {
      const int64_t size = expected[move.slice_dim()];
      if (size % move.num_slices() != 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "'", move.src_name(), "' of ", sender, " has dimension ", move.slice_dim(), " of size ",
            size, ", not divisible by dst TP / src TP = ", move.num_slices()));
      }
      expected[move.slice_dim()] = size / move.num_slices();
    }
    if (!std::equal(expected.begin(), expected.end(), dst->shape().begin(), dst->shape().end())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "shape mismatch for '", move.dst_name(), "': ", Describe(receiver), " registered ",
          ShapeString(dst->shape()), " but receives ", ShapeString(expected), " from ", sender,
          move.num_slices() > 1 ? absl::StrCat(" (its ", ShapeString(move.wire_shape()),
                                               " shard split ", move.num_slices(), " ways)")
                                : ""));
    }
    if (!received_[receiver.sync_rank].insert(move.dst_name()).second) {
      return absl::FailedPreconditionError(absl::StrCat(Describe(receiver), " would receive '",
                                                        move.dst_name(), "' twice (again from ",
                                                        sender, ")"));
    }
    if (!forwards) return absl::OkStatus();
    v1::TensorMove whole = move;
    whole.set_src_name(move.dst_name());
    whole.set_joins_next(false);
    whole.set_from_staging(true);
    whole.set_sliced_on_wire(false);
    whole_moves_[{broadcast.param_group, broadcast.stage, receiver.sync_rank}].push_back(
        {std::move(whole), wave});
    return absl::OkStatus();
  }

  const planner::SyncPlan& plan_;
  const SyncParticipants& participants_;
  const RegroupPlan& regroup_;
  const StagingWaves& waves_;
  uint64_t next_task_id_;
  bool routed_mapping_ = false;  // Whether routed experts have transfers of their own.
  std::map<int, std::set<std::string>> received_;
  std::map<Forwarder, std::vector<WaveMove>> whole_moves_;
  std::map<int, absl::flat_hash_map<std::string, const v1::ParameterSpec*>> parameters_;
};

}  // namespace

v1::GroupMember MemberOf(const SyncRank& rank) {
  v1::GroupMember member;
  member.set_sync_rank(rank.sync_rank);
  member.set_agent_id(rank.agent.agent_id());
  member.set_agent_address(rank.agent.address());
  member.set_data_address(rank.agent.data_address());
  member.set_model(rank.endpoint.spec.model());
  member.set_model_rank(rank.endpoint.spec.rank());
  return member;
}

std::vector<AgentWork> FinishAgentWork(const SyncParticipants& participants,
                                       std::map<std::string, AgentWork> by_agent) {
  for (int r = participants.num_src; r < static_cast<int>(participants.ranks.size()); ++r) {
    const SyncRank& rank = participants.ranks[r];
    v1::EndpointRef ref;
    ref.set_model(rank.endpoint.spec.model());
    ref.set_rank(rank.endpoint.spec.rank());
    by_agent[rank.agent.agent_id()].receivers.push_back(std::move(ref));
  }
  for (const SyncRank& rank : participants.ranks) {
    auto it = by_agent.find(rank.agent.agent_id());
    if (it != by_agent.end()) it->second.agent = rank.agent;
  }
  std::vector<AgentWork> out;
  for (auto& [id, work] : by_agent) out.push_back(std::move(work));
  return out;
}

absl::StatusOr<TransferPlan> BuildTransferPlan(const planner::SyncPlan& plan,
                                               const SyncParticipants& participants,
                                               const TransferOptions& options) {
  std::set<TaskAssembler::Forwarder> stage2_roots;
  // A group's members are everyone its transfers name, in first-seen order: a
  // broadcast group is its root and receivers; a p2p sync's one global group
  // spans all of its pairs.
  std::map<std::string, std::vector<int>> members;
  std::map<std::string, std::set<int>> seen;
  for (const planner::PlannedTransfer& t : plan.transfers) {
    if (t.stage > 1) stage2_roots.insert({t.param_group, t.stage, t.root});
    std::vector<int>& list = members[t.group_name];
    if (seen[t.group_name].insert(t.root).second) list.push_back(t.root);
    for (int r : t.receivers) {
      if (seen[t.group_name].insert(r).second) list.push_back(r);
    }
  }
  ASSIGN_OR_RETURN(RegroupPlan regroup, BuildRegroupPlan(plan, participants));
  // Only syncs that stage (two-stage, regroup) need waves; the others move
  // straight between tensors.
  const bool stages = plan.tp_num_mapping > 1 || !regroup.groups.empty();
  const StagingWaves waves = PlanStagingWaves(
      participants, stages ? options.staging_budget_bytes : 0,
      [&](int rank, const v1::ParameterSpec& p) -> uint64_t {
        const std::vector<int64_t>* shape = regroup.RegroupedShape(rank, p.name());
        return TensorBytes(p.dtype(), shape != nullptr ? absl::MakeConstSpan(*shape) : p.shape())
            .value_or(0);
      });
  SplitRegroupTasks(waves, 1, regroup);
  for (const RegroupPlan::Group& group : regroup.groups) members[group.name] = group.members;
  TaskAssembler assembler(plan, participants, regroup, waves);
  TransferPlan out;
  std::map<std::string, AgentWork> work_by_agent;  // By agent id: deterministic order.
  std::map<std::string, std::set<std::string>> groups_of_agent;
  // The work of every agent that hosts one of `ranks`, in group `group_name`.
  auto for_agents_of = [&](const std::string& group_name, const std::vector<int>& ranks,
                           const std::function<void(AgentWork&)>& add) {
    std::set<std::string> agents;
    for (int r : ranks) agents.insert(participants.ranks[r].agent.agent_id());
    for (const std::string& agent_id : agents) {
      AgentWork& work = work_by_agent[agent_id];
      if (groups_of_agent[agent_id].insert(group_name).second) {
        v1::CollectiveGroupSpec* group = work.groups.add_groups();
        group->set_name(group_name);
        for (int r : members[group_name]) *group->add_members() = MemberOf(participants.ranks[r]);
      }
      add(work);
    }
  };
  for (const RegroupPlan::Group& group : regroup.groups) {
    for_agents_of(group.name, group.members, [&](AgentWork& work) {
      for (const v1::RegroupTask& task : group.tasks) *work.tasks.add_regroups() = task;
    });
    for (const v1::RegroupTask& task : group.tasks) out.wire_bytes += WireBytes(task);
  }
  for (const planner::PlannedTransfer& transfer : plan.transfers) {
    ASSIGN_OR_RETURN(std::vector<v1::TransferTask> tasks,
                     assembler.Assemble(transfer, stage2_roots));
    for (const v1::TransferTask& task : tasks) out.wire_bytes += WireBytes(task);
    std::vector<int> ranks = transfer.receivers;
    ranks.push_back(transfer.root);
    for_agents_of(transfer.group_name, ranks, [&](AgentWork& work) {
      for (const v1::TransferTask& task : tasks) *work.tasks.add_transfers() = task;
    });
  }
  out.waves = waves.count();
  RETURN_IF_ERROR(assembler.CheckCoverage());

  for (int r = participants.num_src; r < static_cast<int>(participants.ranks.size()); ++r) {
    for (const v1::ParameterSpec& p : participants.ranks[r].endpoint.parameters) {
      ASSIGN_OR_RETURN(const uint64_t bytes, TensorBytes(p.dtype(), p.shape()));
      out.dst_bytes += static_cast<int64_t>(bytes);
      out.dst_tensors += 1;
    }
  }
  out.agents = FinishAgentWork(participants, std::move(work_by_agent));
  return out;
}

}  // namespace paramsync::coordinator
