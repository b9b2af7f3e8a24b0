// File: coordinator/planner/two_stage_mapping.h
// -----------------------------------------------------------------------------
// The seed's build_rank_mapping_two_stage, for dst.tp = k * src.tp (k > 1).
// Every trainer rank holds the weights of k inference ranks (its k-block).
// Stage 1 sends each trainer shard to ONE rank of its k-block, chosen by the
// Stage1LoadBalancer: first for trainer ranks that share a GPU with a block
// candidate (pre-allocation), then for the rest. Stage 2 broadcasts inside each
// k-block from every stage-1 receiver to the other k-1 ranks; each keeps its
// 1/k slice.
//
// Trainer groups are those of ReplicaGroups::src_except_routed (EP acts as DP
// for weights other than routed experts), cycled over the replicas without
// reversal. Trainer stage i feeds inference stage i / (src.pp / dst.pp); the
// block's initial candidate order is rotated by `start`, which runs 0..k-1 for
// the first k stages and then backwards, so stacked stages spread out.
#ifndef PARAMSYNC_COORDINATOR_PLANNER_TWO_STAGE_MAPPING_H_
#define PARAMSYNC_COORDINATOR_PLANNER_TWO_STAGE_MAPPING_H_

#include "absl/status/statusor.h"
#include "coordinator/planner/rank_placement.h"
#include "coordinator/planner/replica_groups.h"
#include "coordinator/planner/send_recv_mapping.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

struct TwoStageMapping {
  SendRecvMapping stage1;  // Trainer -> inference.
  SendRecvMapping stage2;  // Inference -> inference, inside k-blocks.
};

// Requires a validated topology (ValidateTopology()) whose strategy is two-stage
// with `tp_num_mapping` = dst.tp / src.tp. INVALID_ARGUMENT when a trainer rank
// finds no stage-1 receiver off its own GPU.
absl::StatusOr<TwoStageMapping> MapTwoStage(const SyncTopology& topology,
                                            const ReplicaGroups& groups,
                                            const RankPlacement& placement, int tp_num_mapping);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_TWO_STAGE_MAPPING_H_
