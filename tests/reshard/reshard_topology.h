// File: tests/reshard/reshard_topology.h
// -----------------------------------------------------------------------------
// Sync participants for resharding tests, built the way the coordinator builds
// them (BuildSyncParticipants) from endpoints laid out as Megatron and vLLM
// number their ranks.
#ifndef PARAMSYNC_TESTS_RESHARD_RESHARD_TOPOLOGY_H_
#define PARAMSYNC_TESTS_RESHARD_RESHARD_TOPOLOGY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/sync/sync_participants.h"

namespace paramsync::coordinator::testing {

// One side of a sync.
struct Side {
  int tp = 1;
  int pp = 1;
  int copies = 1;  // Trainer: DP; inference: replicas.
  int ep = 1;      // Trainer only (divides copies).
};

// The tensors of the rank at (tp_rank, pp_rank, ep_rank) of `side`.
using TensorsOf = std::function<std::vector<v1::ParameterSpec>(const Side& side, int tp_rank,
                                                               int pp_rank, int ep_rank)>;

v1::ParameterSpec Tensor(const std::string& name, std::vector<int64_t> shape,
                         std::optional<int> split, v1::DType dtype = v1::DTYPE_FLOAT32);

// Every rank of `side` in model rank order, rank r on agent "agent-<agent_of(r)>".
std::vector<EndpointRecord> Endpoints(const std::string& model, bool trainer, const Side& side,
                                      const std::function<int(int rank)>& agent_of,
                                      const TensorsOf& tensors_of);

// Agents "agent-0".."agent-<count-1>", split evenly over `hosts` hosts.
absl::flat_hash_map<std::string, v1::AgentInfo> Agents(int count, int hosts = 1);

// Participants of group "g" from trainer "t" to inference "i".
absl::StatusOr<SyncParticipants> Participants(
    const std::vector<EndpointRecord>& src, const std::vector<EndpointRecord>& dst,
    const absl::flat_hash_map<std::string, v1::AgentInfo>& agents, bool hep = false);

}  // namespace paramsync::coordinator::testing

#endif  // PARAMSYNC_TESTS_RESHARD_RESHARD_TOPOLOGY_H_
