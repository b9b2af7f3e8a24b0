// File: coordinator/sync/lora_merge_plan.h
// -----------------------------------------------------------------------------
// Which agents merge LoRA adapters into their base weights before a sync of a
// LORA_MODE_MERGE group, and for which of their trainer endpoints: those with
// an adapted base weight (SyncParticipants.lora_bases) that the sync reads, in
// a task (a transfer out of the registered tensor, a regroup or direct box
// move out of it) or, when the sync is validated, in a source digest. A
// trainer rank the sync reads nothing adapted from (a data-parallel replica
// whose copy is not used) is left alone. Pure.
#ifndef PARAMSYNC_COORDINATOR_SYNC_LORA_MERGE_PLAN_H_
#define PARAMSYNC_COORDINATOR_SYNC_LORA_MERGE_PLAN_H_

#include <vector>

#include "coordinator/sync/sync_participants.h"
#include "coordinator/sync/transfer_plan_builder.h"
#include "coordinator/sync/validation_plan.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::coordinator {

// Per agent of `transfer`, in its order: a LORA_ACTION_MERGE request (sync_id
// unset) naming the agent's trainer endpoints that merge, by rank; empty for
// an agent that merges nothing. Empty when no agent merges (no adapted base,
// or none read). `validation` is the validation plan of a validated sync, else
// null.
std::vector<v1::LoraRequest> BuildLoraMergeRequests(const SyncParticipants& participants,
                                                    const TransferPlan& transfer,
                                                    const ValidationPlan* validation);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_LORA_MERGE_PLAN_H_
