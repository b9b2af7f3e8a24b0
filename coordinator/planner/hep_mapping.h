// File: coordinator/planner/hep_mapping.h
// -----------------------------------------------------------------------------
// The seed's ParameterSyncGroupwithHEP.build_rank_mapping_for_ep, for vLLM
// inference: routed experts treat a trainer stage's TP x EP ranks as one expert
// parallel group. Each such stage is split into its ep TP blocks; an inference
// TP group (dst.tp = n * src.tp ranks) receives n consecutive blocks, starting
// at an offset that advances, per trainer group, by n after every stage, so
// that successive replicas and stages take the blocks in turn.
#ifndef PARAMSYNC_COORDINATOR_PLANNER_HEP_MAPPING_H_
#define PARAMSYNC_COORDINATOR_PLANNER_HEP_MAPPING_H_

#include "coordinator/planner/rank_mapping.h"
#include "coordinator/planner/replica_groups.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

// Requires a topology that passed ValidateParallelism() and ChooseSyncStrategy()
// with an expert mapping. regroup_groups lists each trainer group's stages (TP x
// EP ranks each) once, the first time the group feeds a replica.
RankMapping MapExpertParallel(const SyncTopology& topology, const ReplicaGroups& groups,
                              bool reverse_src_groups);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_HEP_MAPPING_H_
