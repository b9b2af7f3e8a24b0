// File: coordinator/planner/rank_mapping.h
// -----------------------------------------------------------------------------
// The seed's build_rank_mapping: inference replica r gets the trainer group
// SrcGroupForReplica(r); the k-th TP x EP block of that group (one per trainer
// pipeline stage) sends, position by position, to the block of inference stage
// k / (src.pp / dst.pp). Used for equal TP, and for routed experts between
// equal TP x EP blocks (HEP with Megatron inference).
#ifndef PARAMSYNC_COORDINATOR_PLANNER_RANK_MAPPING_H_
#define PARAMSYNC_COORDINATOR_PLANNER_RANK_MAPPING_H_

#include "coordinator/planner/replica_groups.h"
#include "coordinator/planner/send_recv_mapping.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

// Pairs of one mapping pass, and the trainer rank blocks the pass marks for
// routed-expert regrouping, in the seed's order of first appearance (the seed
// repeats a trainer group's blocks for every replica the group feeds; here
// each block is listed once).
struct RankMapping {
  SendRecvMapping pairs;
  RankGroups regroup_groups;
};

// Requires a topology that passed ValidateParallelism() and ChooseSyncStrategy().
// Where an inference block is longer than the trainer block feeding it, its
// tail gets no sender (as in the seed); the plan builder refuses such plans.
RankMapping MapEqualTensorParallel(const SyncTopology& topology, const ReplicaGroups& groups,
                                   bool reverse_src_groups);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_RANK_MAPPING_H_
