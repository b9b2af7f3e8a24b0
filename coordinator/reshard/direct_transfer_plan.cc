#include "coordinator/reshard/direct_transfer_plan.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/tensor_box.h"
#include "coordinator/sync/staging_waves.h"

namespace paramsync::coordinator {
namespace {

// Agents that exchange data, directly or through one another: union-find.
class AgentComponents {
 public:
  int IndexOf(const std::string& agent_id) {
    auto [it, inserted] = index_.try_emplace(agent_id, static_cast<int>(parent_.size()));
    if (inserted) parent_.push_back(it->second);
    return it->second;
  }
  void Join(int a, int b) { parent_[Root(a)] = Root(b); }
  int Root(int a) {
    while (parent_[a] != a) a = parent_[a] = parent_[parent_[a]];
    return a;
  }

 private:
  std::map<std::string, int> index_;
  std::vector<int> parent_;
};

// Where a move's box starts in its tensor's allocation: (storage, byte offset).
std::pair<std::string, uint64_t> Position(const v1::ParameterSpec& tensor,
                                          absl::Span<const int64_t> start) {
  return {tensor.storage(),
          tensor.storage_offset() + BoxOffset(tensor.shape(), start, DTypeSize(tensor.dtype()))};
}

bool Contiguous(const v1::ParameterSpec& tensor, const BoxMove& move) {
  return IsContiguousBox(tensor.shape(), move.extent);
}

// Whether `b` starts where `a` ends in memory on both sides, both boxes being
// contiguous ranges of their tensors.
bool Joins(const BoxMove& a, const BoxMove& b) {
  if (a.src_rank != b.src_rank || a.dst_rank != b.dst_rank) return false;
  if (!Contiguous(*a.src_tensor, a) || !Contiguous(*b.src_tensor, b) ||
      !Contiguous(*a.dst_tensor, a) || !Contiguous(*b.dst_tensor, b)) {
    return false;
  }
  const uint64_t bytes = static_cast<uint64_t>(a.bytes());
  const auto src_a = Position(*a.src_tensor, a.src_start);
  const auto src_b = Position(*b.src_tensor, b.src_start);
  const auto dst_a = Position(*a.dst_tensor, a.dst_start);
  const auto dst_b = Position(*b.dst_tensor, b.dst_start);
  return !src_a.first.empty() && src_a.first == src_b.first &&
         src_a.second + bytes == src_b.second && !dst_a.first.empty() &&
         dst_a.first == dst_b.first && dst_a.second + bytes == dst_b.second;
}

v1::RegroupPiece PieceOf(const BoxMove& move, bool joins_next) {
  v1::RegroupPiece piece;
  piece.set_src_sync_rank(move.src_rank);
  piece.set_dst_sync_rank(move.dst_rank);
  piece.set_name(move.src_tensor->name());
  piece.set_dst_name(move.dst_tensor->name());
  piece.set_dtype(move.src_tensor->dtype());
  *piece.mutable_src_shape() = move.src_tensor->shape();
  piece.mutable_src_box()->mutable_start()->Add(move.src_start.begin(), move.src_start.end());
  piece.mutable_src_box()->mutable_extent()->Add(move.extent.begin(), move.extent.end());
  *piece.mutable_dst_shape() = move.dst_tensor->shape();
  piece.mutable_dst_box()->mutable_start()->Add(move.dst_start.begin(), move.dst_start.end());
  piece.mutable_dst_box()->mutable_extent()->Add(move.extent.begin(), move.extent.end());
  piece.set_lands_in_tensor(true);
  piece.set_joins_next(joins_next);
  return piece;
}

// One collective group of the plan: its members and its moves by wave.
struct Exchange {
  std::set<int> members;  // Sync ranks.
  std::map<int, std::vector<const BoxMove*>> waves;
};

}  // namespace

TransferPlan BuildDirectTransferPlan(const SyncParticipants& participants, const DirectMoves& moves,
                                     const TransferOptions& options) {
  auto agent_of = [&](int rank) -> const std::string& {
    return participants.ranks[rank].agent.agent_id();
  };
  AgentComponents components;
  // What packing each trainer tensor's moves stage (local copies stage nothing).
  std::map<std::pair<int, std::string>, uint64_t> staged;
  for (const BoxMove& move : moves.moves) {
    components.Join(components.IndexOf(agent_of(move.src_rank)),
                    components.IndexOf(agent_of(move.dst_rank)));
    if (agent_of(move.src_rank) == agent_of(move.dst_rank)) continue;
    const uint64_t bytes = static_cast<uint64_t>(move.bytes());
    uint64_t& packed = staged[{move.src_rank, move.src_tensor->name()}];
    if (!Contiguous(*move.src_tensor, move)) packed += bytes;
    if (!Contiguous(*move.dst_tensor, move)) packed += bytes;
  }
  const StagingWaves waves =
      PlanStagingWaves(participants, options.staging_budget_bytes,
                       [&](int rank, const v1::ParameterSpec& p) -> uint64_t {
                         auto it = staged.find({rank, p.name()});
                         return it == staged.end() ? 0 : it->second;
                       });

  // Groups by component root; named below in the order of their lowest rank.
  std::map<int, Exchange> by_root;
  for (const BoxMove& move : moves.moves) {
    Exchange& exchange = by_root[components.Root(components.IndexOf(agent_of(move.src_rank)))];
    exchange.members.insert(move.src_rank);
    exchange.members.insert(move.dst_rank);
    exchange.waves[waves.WaveOf(move.src_rank, move.src_tensor->name())].push_back(&move);
  }
  std::vector<Exchange*> exchanges;
  for (auto& [root, exchange] : by_root) exchanges.push_back(&exchange);
  std::sort(exchanges.begin(), exchanges.end(), [](const Exchange* a, const Exchange* b) {
    return *a->members.begin() < *b->members.begin();
  });

  TransferPlan out;
  std::map<std::string, AgentWork> work_by_agent;
  uint64_t next_task_id = 1;
  for (size_t k = 0; k < exchanges.size(); ++k) {
    const Exchange& exchange = *exchanges[k];
    const std::string name = absl::StrCat(participants.topology.group_name, "_direct_", k);
    v1::CollectiveGroupSpec group;
    group.set_name(name);
    std::set<std::string> agents;
    for (int rank : exchange.members) {
      *group.add_members() = MemberOf(participants.ranks[rank]);
      agents.insert(agent_of(rank));
    }
    std::vector<v1::RegroupTask> tasks;
    for (const auto& [wave, wave_moves] : exchange.waves) {
      std::vector<const BoxMove*> ordered = wave_moves;
      std::stable_sort(ordered.begin(), ordered.end(), [](const BoxMove* a, const BoxMove* b) {
        return std::make_tuple(a->src_rank, a->dst_rank, Position(*a->src_tensor, a->src_start)) <
               std::make_tuple(b->src_rank, b->dst_rank, Position(*b->src_tensor, b->src_start));
      });
      v1::RegroupTask& task = tasks.emplace_back();
      task.set_task_id(next_task_id);
      next_task_id += exchange.members.size();  // One transfer key per sender.
      task.set_group(name);
      task.set_wave(wave);
      task.set_stage(1);
      for (size_t i = 0; i < ordered.size(); ++i) {
        const bool joins = i + 1 < ordered.size() && Joins(*ordered[i], *ordered[i + 1]);
        *task.add_pieces() = PieceOf(*ordered[i], joins);
        out.wire_bytes += ordered[i]->bytes();
      }
    }
    // Each agent gets the pieces its ranks send or receive (every piece of a
    // pair it takes part in, so joins stay whole), not the whole group's.
    for (const std::string& agent : agents) {
      AgentWork& work = work_by_agent[agent];
      *work.groups.add_groups() = group;
      for (const v1::RegroupTask& task : tasks) {
        v1::RegroupTask own;
        own.set_task_id(task.task_id());
        own.set_group(task.group());
        own.set_wave(task.wave());
        own.set_stage(task.stage());
        for (const v1::RegroupPiece& piece : task.pieces()) {
          if (agent_of(piece.src_sync_rank()) == agent ||
              agent_of(piece.dst_sync_rank()) == agent) {
            *own.add_pieces() = piece;
          }
        }
        if (!own.pieces().empty()) *work.tasks.add_regroups() = std::move(own);
      }
    }
  }
  out.dst_bytes = moves.dst_bytes;
  out.dst_tensors = moves.dst_tensors;
  out.waves = waves.count();
  out.agents = FinishAgentWork(participants, std::move(work_by_agent));
  return out;
}

}  // namespace paramsync::coordinator
