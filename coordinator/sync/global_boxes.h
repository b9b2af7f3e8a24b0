// File: coordinator/sync/global_boxes.h
// -----------------------------------------------------------------------------
// Where each rank's registered tensor lies in the full (unsharded) parameter:
// the coordinates sync validation digests in (common/tensor_digest.h), so that
// a destination shard's digest is the sum of the digests of the source regions
// covering it, whatever path its bytes took. Pure.
//
// A rank's tensor is the block `part` of `parts` equal blocks along each
// dimension its layout splits:
// - tp_split_dim: TP, block tp_rank of tp_size (both sides), except routed
//   experts an inference rank holds whole;
// - expert_dim of routed experts (HEP syncs, regroup_plan_builder.h's
//   IsRouted): a trainer rank holds EP block ep_rank of ep_size; an inference
//   rank holds block ep_rank * tp + tp_rank of its tp * ep when the group's
//   layout gives it whole experts (src tp*ep == dst tp*ep), else every expert.
// Every other tensor (norms, routers, ...) is the whole parameter on every
// rank: its copies are replicas.
#ifndef PARAMSYNC_COORDINATOR_SYNC_GLOBAL_BOXES_H_
#define PARAMSYNC_COORDINATOR_SYNC_GLOBAL_BOXES_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/sync/sync_participants.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::coordinator {

// A rank's tensor inside its full parameter; `extent` is the tensor's shape.
struct GlobalBox {
  std::vector<int64_t> shape;  // The full parameter's.
  std::vector<int64_t> start;
  std::vector<int64_t> extent;
};

// The box of `rank`'s tensor `parameter` in a sync of `participants`.
// FAILED_PRECONDITION, naming the rank and the tensor, when a split dimension
// is not one of the tensor's or a rank lies outside its parallel size.
absl::StatusOr<GlobalBox> GlobalBoxOf(const SyncParticipants& participants, const SyncRank& rank,
                                      const v1::ParameterSpec& parameter);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_GLOBAL_BOXES_H_
