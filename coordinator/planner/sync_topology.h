// File: coordinator/planner/sync_topology.h
// -----------------------------------------------------------------------------
// The planner's input: the parallel layout of a trainer (Megatron) and of its
// inference replicas (vLLM or Megatron), and where each of their ranks runs.
//
// Rank numbering follows ChatLearn's sync group: all trainer ranks first
// (0 .. src.tp*src.pp*src.dp-1, in Megatron's order), then every inference
// replica's ranks, replica after replica.
#ifndef PARAMSYNC_COORDINATOR_PLANNER_SYNC_TOPOLOGY_H_
#define PARAMSYNC_COORDINATOR_PLANNER_SYNC_TOPOLOGY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace paramsync::planner {

// How trainer shards reach inference ranks: one NCCL broadcast group per sender
// and its receivers, or send/recv pairs inside one global group.
enum class CommType { kBroadcast, kP2P };

// How routed-expert weights are regrouped across the trainer's EP x TP ranks
// before they are synced (hyper expert parallel only).
enum class RegroupCommType { kAllToAll, kAllGather };

inline constexpr absl::string_view kEngineMegatron = "megatron";
inline constexpr absl::string_view kEngineVllm = "vllm";

// Parallel sizes of one model. The trainer (src) uses `dp`; the inference side
// (dst) uses `replicas`, each replica holding tp*pp*ep ranks.
struct ModelParallelism {
  std::string engine;  // kEngineMegatron or kEngineVllm (dst only).
  int tp = 1;
  int pp = 1;
  int ep = 1;
  int dp = 1;        // src: Megatron data-parallel size (ep is carved out of it).
  int replicas = 1;  // dst: number of inference replicas.
};

// One rank of the sync group and the GPU it runs on. Two endpoints with the same
// (node, gpu) share a GPU, which NCCL cannot send-recv within.
struct EndpointPlacement {
  bool is_src = false;
  int rank = 0;        // Global sync rank.
  int replica = 0;     // src: always 0; dst: inference replica index.
  int local_rank = 0;  // Rank inside its replica (src: equals `rank`).
  int node = 0;
  int gpu = 0;
  int tp_rank = 0;
  int pp_rank = 0;
  int ep_rank = 0;
  int dp_rank = 0;
};

struct SyncTopology {
  std::string group_name;                     // Prefix of every collective group name.
  CommType comm_type = CommType::kBroadcast;  // Requested; the plan may fall back.
  RegroupCommType regroup_comm_type = RegroupCommType::kAllToAll;  // Requested.
  bool hep = false;        // Hyper expert parallel: routed experts use TP x EP as EP.
  bool colocated = false;  // Trainer and inference share GPUs.
  ModelParallelism src;
  ModelParallelism dst;
  // One per rank, any order. May be empty when the sizes alone decide that the
  // topology is refused; a plan needs all of them.
  std::vector<EndpointPlacement> endpoints;
};

// Parses "broadcast" / "p2p"; INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<CommType> ParseCommType(absl::string_view name,
                                       absl::string_view field = "comm_type");

// Parses "alltoall" / "allgather"; INVALID_ARGUMENT naming `field` otherwise.
absl::StatusOr<RegroupCommType> ParseRegroupCommType(absl::string_view name,
                                                     absl::string_view field = "regroup_comm_type");

// The names ParseCommType / ParseRegroupCommType accept; "unknown" for values
// outside the enums.
absl::string_view CommTypeName(CommType type);
absl::string_view RegroupCommTypeName(RegroupCommType type);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_SYNC_TOPOLOGY_H_
