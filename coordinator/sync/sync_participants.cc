#include "coordinator/sync/sync_participants.h"

#include <algorithm>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace paramsync::coordinator {
namespace {

absl::Status CheckModel(const std::string& model, const std::vector<EndpointRecord>& endpoints,
                        v1::Role role, const char* side) {
  if (endpoints.empty()) {
    return absl::NotFoundError(
        absl::StrCat(side, " model '", model, "' has no registered endpoint"));
  }
  if (endpoints.front().spec.role() != role) {
    return absl::FailedPreconditionError(
        absl::StrCat(side, " model '", model, "' is registered with role ",
                     v1::Role_Name(endpoints.front().spec.role()), "; a ", side, " must be ",
                     v1::Role_Name(role)));
  }
  return absl::OkStatus();
}

// Ranks 0..expected-1 must all be present (the registry keeps them unique).
absl::Status CheckComplete(const std::string& model, const std::vector<EndpointRecord>& endpoints,
                           int64_t expected, const std::string& layout) {
  absl::btree_set<int> present;
  for (const EndpointRecord& e : endpoints) present.insert(e.spec.rank());
  std::vector<int> missing;
  for (int r = 0; r < expected; ++r) {
    if (!present.contains(r)) missing.push_back(r);
  }
  std::vector<int> extra;
  for (int r : present) {
    if (r >= expected) extra.push_back(r);
  }
  if (missing.empty() && extra.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("model '", model, "' (", layout, ") needs ranks 0..", expected - 1,
                   missing.empty() ? "" : "; missing ranks: ", absl::StrJoin(missing, ","),
                   extra.empty() ? "" : "; unexpected ranks: ", absl::StrJoin(extra, ",")));
}

}  // namespace

std::string Describe(const SyncRank& rank) {
  return absl::StrCat(rank.endpoint.spec.model(), " rank ", rank.endpoint.spec.rank(),
                      " (sync rank ", rank.sync_rank, ")");
}

absl::StatusOr<SyncParticipants> BuildSyncParticipants(
    const v1::SyncGroupSpec& group, std::vector<EndpointRecord> src,
    std::vector<EndpointRecord> dst,
    const absl::flat_hash_map<std::string, v1::AgentInfo>& agents) {
  RETURN_IF_ERROR(CheckModel(group.src_model(), src, v1::ROLE_TRAINER, "trainer"));
  RETURN_IF_ERROR(CheckModel(group.dst_model(), dst, v1::ROLE_INFERENCE, "inference"));
  const v1::ParallelConfig& sp = src.front().spec.parallel();
  const v1::ParallelConfig& dp = dst.front().spec.parallel();
  RETURN_IF_ERROR(
      CheckComplete(group.src_model(), src, int64_t{sp.tp_size()} * sp.pp_size() * sp.dp_size(),
                    absl::StrCat("tp ", sp.tp_size(), " pp ", sp.pp_size(), " dp ", sp.dp_size())));
  const int replica_size = dp.tp_size() * dp.pp_size();
  int replicas = 0;
  for (const EndpointRecord& e : dst) replicas = std::max(replicas, e.spec.replica() + 1);
  RETURN_IF_ERROR(CheckComplete(
      group.dst_model(), dst, int64_t{replicas} * replica_size,
      absl::StrCat(replicas, " replicas of tp ", dp.tp_size(), " pp ", dp.pp_size())));

  SyncParticipants out;
  ASSIGN_OR_RETURN(out.lora_bases, ApplyLoraMode(group, src, dst));
  out.num_src = static_cast<int>(src.size());
  std::vector<EndpointRecord*> ordered;
  for (EndpointRecord& e : src) ordered.push_back(&e);  // Sorted by rank already.
  std::vector<EndpointRecord*> dst_ordered;
  for (EndpointRecord& e : dst) dst_ordered.push_back(&e);
  std::sort(dst_ordered.begin(), dst_ordered.end(),
            [](const EndpointRecord* a, const EndpointRecord* b) {
              return std::make_pair(a->spec.replica(), a->spec.local_rank()) <
                     std::make_pair(b->spec.replica(), b->spec.local_rank());
            });
  ordered.insert(ordered.end(), dst_ordered.begin(), dst_ordered.end());

  // The planner sees physical placement as (node, gpu) integers.
  absl::flat_hash_map<std::string, int> nodes;
  absl::flat_hash_map<std::string, int> devices;
  absl::flat_hash_map<std::string, int> next_gpu_on_node;
  planner::SyncTopology& topology = out.topology;
  topology.group_name = group.name();
  topology.comm_type = group.comm_type() == v1::COMM_TYPE_P2P ? planner::CommType::kP2P
                                                              : planner::CommType::kBroadcast;
  topology.hep = group.hep();
  topology.regroup_comm_type = group.regroup_comm_type() == v1::REGROUP_COMM_TYPE_ALLGATHER
                                   ? planner::RegroupCommType::kAllGather
                                   : planner::RegroupCommType::kAllToAll;
  topology.src = planner::ModelParallelism{"megatron",   sp.tp_size(), sp.pp_size(),
                                           sp.ep_size(), sp.dp_size(), 1};
  topology.dst =
      planner::ModelParallelism{"vllm", dp.tp_size(), dp.pp_size(), dp.ep_size(), 1, replicas};
  absl::flat_hash_map<std::string, bool> device_used_by_src;
  for (size_t i = 0; i < ordered.size(); ++i) {
    EndpointRecord& e = *ordered[i];
    auto agent = agents.find(e.agent_id);
    if (agent == agents.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("endpoint ", e.spec.model(), " rank ", e.spec.rank(),
                       " was registered by agent ", e.agent_id, ", which is no longer registered"));
    }
    const bool is_src = static_cast<int>(i) < out.num_src;
    const std::string& host = agent->second.host();
    const std::string& device = agent->second.device();
    const int node = nodes.emplace(host, static_cast<int>(nodes.size())).first->second;
    auto [device_it, inserted] = devices.emplace(absl::StrCat(host, "/", device), 0);
    if (inserted) device_it->second = next_gpu_on_node[host]++;
    if (is_src) {
      device_used_by_src[device_it->first] = true;
    } else if (device_used_by_src.contains(device_it->first)) {
      topology.colocated = true;
    }
    const v1::ParallelConfig& p = e.spec.parallel();
    topology.endpoints.push_back(planner::EndpointPlacement{
        is_src, static_cast<int>(i), e.spec.replica(), is_src ? e.spec.rank() : e.spec.local_rank(),
        node, device_it->second, p.tp_rank(), p.pp_rank(), p.ep_rank(), p.dp_rank()});
    out.ranks.push_back(SyncRank{static_cast<int>(i), std::move(e), agent->second});
  }
  return out;
}

}  // namespace paramsync::coordinator
