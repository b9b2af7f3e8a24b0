// File: coordinator/sync/validation_plan.h
// -----------------------------------------------------------------------------
// What a validated sync digests and compares (SyncRequest.validate), in the
// coordinates of logical parameters (coordinator/reshard/logical_layout.h):
// every piece of every destination tensor is digested where it lives, and so
// is each source region that covers part of it; the piece's digest must equal
// the sum of its regions' digests (common/tensor_digest.h). The check is end to
// end: it does not depend on the strategy or the path the bytes took (one or
// two stages, regroups, direct box moves, staging waves).
//
// Sources: of a region's copies on the trainer (data-parallel replicas, TP
// ranks of a replicated tensor) one is digested, the copy of the lowest sync
// rank, so each source region is digested once however many destinations it
// feeds. Pure.
#ifndef PARAMSYNC_COORDINATOR_SYNC_VALIDATION_PLAN_H_
#define PARAMSYNC_COORDINATOR_SYNC_VALIDATION_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/sync/sync_participants.h"
#include "coordinator/sync/transfer_plan_builder.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::coordinator {

struct ValidationPlan {
  // A digest: item `item` of the request to agent `agent`.
  struct DigestRef {
    int agent = 0;
    int item = 0;
  };
  // One destination piece (a whole tensor, unless it lists logical pieces):
  // its digest must be the sum of `sources`'.
  struct Check {
    // "vllm rank 3 'decoder.layers.0.mlp.linear_fc1.weight'", with " (logical
    // 'q')" when the piece's logical parameter has another name.
    std::string tensor;
    DigestRef destination;
    std::vector<DigestRef> sources;
  };
  // One per agent of the transfer plan, in its order, naming the transfer
  // plan's id (DigestRequest.plan_id); without items where an agent digests
  // nothing.
  std::vector<v1::DigestRequest> requests;
  std::vector<Check> checks;
};

// The plan for syncs of `transfer`. FAILED_PRECONDITION, naming the tensor and
// rank, when no copy on the trainer covers part of a destination piece, and as
// BuildLogicalLayout (ranks that disagree on a parameter's shape, a layout
// that leaves a tensor's box undefined).
absl::StatusOr<ValidationPlan> BuildValidationPlan(const SyncParticipants& participants,
                                                   const TransferPlan& transfer);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_VALIDATION_PLAN_H_
