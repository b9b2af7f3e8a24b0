// File: coordinator/reshard/direct_plan_proto.h
// -----------------------------------------------------------------------------
// What GetPlan shows of a direct plan (coordinator.proto, SyncPlan): the
// strategy, its collective groups, what each (source, destination) pair of
// sync ranks moves, and the bytes it moves in all. Pure.
#ifndef PARAMSYNC_COORDINATOR_RESHARD_DIRECT_PLAN_PROTO_H_
#define PARAMSYNC_COORDINATOR_RESHARD_DIRECT_PLAN_PROTO_H_

#include "coordinator/reshard/direct_plan_builder.h"
#include "coordinator/sync/transfer_plan_builder.h"
#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::coordinator {

// `transfer` is what BuildDirectTransferPlan made of `moves`.
v1::SyncPlan DirectPlanToProto(const DirectMoves& moves, const TransferPlan& transfer);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_RESHARD_DIRECT_PLAN_PROTO_H_
