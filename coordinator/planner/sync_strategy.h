// File: coordinator/planner/sync_strategy.h
// -----------------------------------------------------------------------------
// Which of ChatLearn's mappings a topology uses, and the communication types
// after its fallbacks: the decisions of ParameterSyncGroup.__init__ and of
// setup_rank_mapping (ParameterSyncGroup and ParameterSyncGroupwithHEP). They
// depend on the parallel sizes only, so a topology the seed cannot sync is
// refused here, before its endpoints are looked at.
#ifndef PARAMSYNC_COORDINATOR_PLANNER_SYNC_STRATEGY_H_
#define PARAMSYNC_COORDINATOR_PLANNER_SYNC_STRATEGY_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

// How the weights travel (all of them, or all but the routed experts when
// those have their own mapping).
enum class WeightMapping {
  // Each trainer rank to the rank at the same position of each inference
  // replica (seed: build_rank_mapping).
  kEqualTp,
  // HEP with vLLM, equal TP, smaller inference EP: TP x EP blocks of the
  // trainer cycled onto inference TP groups (seed: build_rank_mapping_for_ep).
  kExpertEqualTp,
  // dst.tp = k * src.tp: stage 1 to one rank per k-group, stage 2 inside it
  // (seed: build_rank_mapping_two_stage).
  kTwoStage,
};

// Whether routed experts (HEP) get a mapping of their own.
enum class RoutedExpertMapping {
  kNone,  // They travel with the other weights.
  // HEP with Megatron inference: TP x EP blocks one to one (build_rank_mapping).
  kEqualTp,
  // HEP with vLLM, larger inference TP, equal TP x EP (build_rank_mapping_for_ep).
  kExpert,
  // HEP with vLLM, larger inference TP, different TP x EP: the seed computes the
  // regroup groups but maps no routed-expert pairs, and its two-stage sync skips
  // routed experts ("except_routed"); they reach inference only if the executor
  // sends them along the two-stage pairs after the trainer's all-gather.
  kRegroupOnly,
};

struct SyncStrategy {
  CommType comm_type = CommType::kBroadcast;
  RegroupCommType regroup_comm_type = RegroupCommType::kAllToAll;
  int tp_num_mapping = 1;
  WeightMapping weights = WeightMapping::kEqualTp;
  RoutedExpertMapping routed_experts = RoutedExpertMapping::kNone;
  // Cycle trainer groups over inference replicas in reverse order (the seed's
  // rule for colocated jobs with odd trainer TP; not used by the two-stage
  // mapping).
  bool reverse_src_groups = false;
  // HEP with vLLM: the trainer regroups routed experts (all-gather or
  // all-to-all) before any weight moves.
  bool regroup_in_trainer = false;
};

// Decides the strategy for a topology that passed ValidateParallelism(). Returns
// INVALID_ARGUMENT, naming the sizes at fault and what would be accepted, for
// every topology the seed refuses or cannot sync correctly: dst.tp not a
// multiple of src.tp, dst.pp not dividing src.pp, the HEP rules, p2p for a
// two-stage sync, and inference EP in a two-stage sync.
absl::StatusOr<SyncStrategy> ChooseSyncStrategy(const SyncTopology& topology);

// The seed's param_group name of weights synced by the main mapping: "default",
// or "except_routed" when routed experts have their own mapping (then synced as
// "routed").
absl::string_view WeightParamGroup(const SyncStrategy& strategy);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_SYNC_STRATEGY_H_
