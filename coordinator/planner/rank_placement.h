// File: coordinator/planner/rank_placement.h
// -----------------------------------------------------------------------------
// Lookups by global sync rank into a topology's endpoints: which GPU a rank runs
// on (NCCL cannot send-recv between two ranks of one GPU) and a trainer rank's
// data-parallel rank (the send order goes round robin over them).
#ifndef PARAMSYNC_COORDINATOR_PLANNER_RANK_PLACEMENT_H_
#define PARAMSYNC_COORDINATOR_PLANNER_RANK_PLACEMENT_H_

#include <vector>

#include "absl/types/span.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

class RankPlacement {
 public:
  // `endpoints` must have passed ValidateEndpoints(): ranks 0..n-1, once each.
  explicit RankPlacement(absl::Span<const EndpointPlacement> endpoints);

  // Whether ranks `a` and `b` run on the same (node, gpu).
  bool SameGpu(int a, int b) const;
  int DataParallelRank(int rank) const { return by_rank_[rank].dp_rank; }

 private:
  std::vector<EndpointPlacement> by_rank_;
};

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_RANK_PLACEMENT_H_
