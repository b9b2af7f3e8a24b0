// File: coordinator/planner/send_order.h
// -----------------------------------------------------------------------------
// The order in which the single-stage sync visits senders (seed:
// sort_send_actors): senders grouped by trainer dp_rank, each group in rank
// order, taken round robin from dp_rank 0 so that consecutive sends come from
// different data-parallel replicas.
#ifndef PARAMSYNC_COORDINATOR_PLANNER_SEND_ORDER_H_
#define PARAMSYNC_COORDINATOR_PLANNER_SEND_ORDER_H_

#include <vector>

#include "coordinator/planner/rank_placement.h"
#include "coordinator/planner/send_recv_mapping.h"

namespace paramsync::planner {

// Every sender of `mapping` exactly once. After dp_rank d the walk goes to
// d + 1, or back to 0 when d + 1 is `src_dp` or sends nothing. The seed fails
// (IndexError) when the rank it lands on has no sender left, e.g. dp_rank 0 when
// reversed trainer groups feed fewer replicas than there are groups; here the
// walk moves on to the next dp_rank that still has senders.
std::vector<int> RoundRobinSendOrder(const SendRecvMapping& mapping, const RankPlacement& placement,
                                     int src_dp);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_SEND_ORDER_H_
