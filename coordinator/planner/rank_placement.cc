#include "coordinator/planner/rank_placement.h"

namespace paramsync::planner {

RankPlacement::RankPlacement(absl::Span<const EndpointPlacement> endpoints)
    : by_rank_(endpoints.size()) {
  for (const EndpointPlacement& e : endpoints) by_rank_[e.rank] = e;
}

bool RankPlacement::SameGpu(int a, int b) const {
  return by_rank_[a].node == by_rank_[b].node && by_rank_[a].gpu == by_rank_[b].gpu;
}

}  // namespace paramsync::planner
