// File: coordinator/planner/plan_proto.h
// -----------------------------------------------------------------------------
// The planner's SyncPlan as the API's paramsync.v1.SyncPlan: what GetPlan
// returns for a live group and what `paramsyncctl plan` prints for an offline
// topology.
#ifndef PARAMSYNC_COORDINATOR_PLANNER_PLAN_PROTO_H_
#define PARAMSYNC_COORDINATOR_PLANNER_PLAN_PROTO_H_

#include "coordinator/planner/sync_plan.h"
#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::planner {

// `hep`: the group regroups routed experts (regroup_comm_type and
// regroup_groups are set only then).
v1::SyncPlan PlanToProto(const SyncPlan& plan, bool hep);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_PLAN_PROTO_H_
