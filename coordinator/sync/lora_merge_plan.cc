#include "coordinator/sync/lora_merge_plan.h"

#include <set>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace paramsync::coordinator {
namespace {

// Collects, per agent of a transfer plan, its trainer sync ranks whose adapted
// base weights the sync reads there.
class ReadBases {
 public:
  ReadBases(const SyncParticipants& participants, const TransferPlan& transfer)
      : participants_(participants), transfer_(transfer), ranks_(transfer.agents.size()) {
    for (int r = 0; r < participants.num_src; ++r) {
      trainer_sync_rank_[participants.ranks[r].endpoint.spec.rank()] = r;
    }
  }

  // Agent `agent` reads registered tensor `name` of sync rank `sync_rank`
  // (its tasks list every read of its endpoints, and other ranks' too).
  void Read(size_t agent, int sync_rank, const std::string& name) {
    if (sync_rank < 0 || sync_rank >= participants_.num_src) return;
    const SyncRank& rank = participants_.ranks[sync_rank];
    if (rank.agent.agent_id() != transfer_.agents[agent].agent.agent_id()) return;
    auto bases = participants_.lora_bases.find(rank.endpoint.spec.rank());
    if (bases != participants_.lora_bases.end() && bases->second.count(name) != 0) {
      ranks_[agent].insert(sync_rank);
    }
  }

  void ReadTasks(size_t agent) {
    const v1::AgentTasks& tasks = transfer_.agents[agent].tasks;
    for (const v1::TransferTask& task : tasks.transfers()) {
      for (const v1::TensorMove& move : task.tensors()) {
        if (!move.from_staging()) Read(agent, task.root_sync_rank(), move.src_name());
      }
    }
    for (const v1::RegroupTask& regroup : tasks.regroups()) {
      for (const v1::RegroupPiece& piece : regroup.pieces()) {
        Read(agent, piece.src_sync_rank(), piece.name());
      }
    }
  }

  // The digests `request` asks of the agent, trainer endpoints named by model rank.
  void ReadDigests(size_t agent, const v1::DigestRequest& request) {
    const std::string& trainer = participants_.ranks.front().endpoint.spec.model();
    for (const v1::DigestItem& item : request.items()) {
      if (item.endpoint().model() != trainer) continue;
      auto sync_rank = trainer_sync_rank_.find(item.endpoint().rank());
      if (sync_rank != trainer_sync_rank_.end()) Read(agent, sync_rank->second, item.name());
    }
  }

  // Per agent, the sync ranks read.
  const std::vector<std::set<int>>& ranks() const { return ranks_; }

 private:
  const SyncParticipants& participants_;
  const TransferPlan& transfer_;
  absl::flat_hash_map<int, int> trainer_sync_rank_;  // Model rank -> sync rank.
  std::vector<std::set<int>> ranks_;
};

}  // namespace

std::vector<v1::LoraRequest> BuildLoraMergeRequests(const SyncParticipants& participants,
                                                    const TransferPlan& transfer,
                                                    const ValidationPlan* validation) {
  if (participants.lora_bases.empty()) return {};
  ReadBases read(participants, transfer);
  for (size_t i = 0; i < transfer.agents.size(); ++i) {
    read.ReadTasks(i);
    if (validation != nullptr && i < validation->requests.size()) {
      read.ReadDigests(i, validation->requests[i]);
    }
  }
  std::vector<v1::LoraRequest> requests(transfer.agents.size());
  bool any = false;
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].set_action(v1::LORA_ACTION_MERGE);
    for (int sync_rank : read.ranks()[i]) {
      const EndpointRecord& endpoint = participants.ranks[sync_rank].endpoint;
      v1::EndpointRef* ref = requests[i].add_endpoints();
      ref->set_model(endpoint.spec.model());
      ref->set_rank(endpoint.spec.rank());
      any = true;
    }
  }
  if (!any) return {};
  return requests;
}

}  // namespace paramsync::coordinator
