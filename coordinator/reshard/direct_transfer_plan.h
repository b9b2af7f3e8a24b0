// File: coordinator/reshard/direct_transfer_plan.h
// -----------------------------------------------------------------------------
// A direct plan's box moves (direct_plan_builder.h) as the agents' work, in the
// structures every plan runs in (transfer_plan_builder.h), so that the
// executor, staging waves, validation, commit and metrics treat it like any
// other. Pure.
//
// The moves become RegroupTasks of stage 1 (agent.proto): agents that exchange
// data, directly or through one another, form one collective group (one NCCL
// communicator), named {group}_direct_{k} in the order of their lowest sync
// rank; each staging wave of a group is one task, which every agent of the
// group runs as one grouped exchange, each agent given the pieces its ranks
// send or receive. Pieces between two ranks are ordered by
// where they start in the sender's memory, and those adjacent in memory on
// both sides are marked to move as one operation (RegroupPiece.joins_next).
//
// Staging: only boxes that are not contiguous in their tensors are packed (by
// the sender) or landed (by the receiver) through staging, never on one agent
// (a local box copy). Waves follow each trainer rank's tensors in order, so
// that a sender packs about `staging_budget_bytes` per wave (a receiver lands
// at most that from each of its senders).
#ifndef PARAMSYNC_COORDINATOR_RESHARD_DIRECT_TRANSFER_PLAN_H_
#define PARAMSYNC_COORDINATOR_RESHARD_DIRECT_TRANSFER_PLAN_H_

#include "coordinator/reshard/direct_plan_builder.h"
#include "coordinator/sync/sync_participants.h"
#include "coordinator/sync/transfer_plan_builder.h"

namespace paramsync::coordinator {

// The work of a direct sync of `participants` moving `moves`. Its dst_bytes
// and wire_bytes are both the moves' bytes.
TransferPlan BuildDirectTransferPlan(const SyncParticipants& participants, const DirectMoves& moves,
                                     const TransferOptions& options = {});

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_RESHARD_DIRECT_TRANSFER_PLAN_H_
