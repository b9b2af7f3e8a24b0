// File: coordinator/reshard/direct_plan_builder.h
// -----------------------------------------------------------------------------
// The `direct` strategy's planner: for every piece of every inference tensor
// (logical_layout.h), the trainer ranks that hold each of its regions, one
// per region, as box moves from a trainer tensor into the inference tensor.
// Any sharding to any other: TP of any size on either side (smaller inference
// TP and non-multiples such as 2 -> 3 included), pipeline stages re-split
// (logical names carry global layer indices), EP changes of routed experts,
// replicated tensors. Pure and deterministic.
//
// Each destination element gets exactly one source, so a sync moves exactly
// the destination's bytes. Where several trainer ranks hold a region (data
// parallel replicas, tensors every TP rank holds whole), the source is one on
// the receiver's own agent (a local copy) if any, else one on its host, else
// one that already sends to the receiver (fewer connections, smaller
// collective groups), else the one that sends the fewest bytes so far; ties
// go to the lowest sync rank.
#ifndef PARAMSYNC_COORDINATOR_RESHARD_DIRECT_PLAN_BUILDER_H_
#define PARAMSYNC_COORDINATOR_RESHARD_DIRECT_PLAN_BUILDER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/reshard/box_algebra.h"
#include "coordinator/sync/sync_participants.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::coordinator {

// The box of `extent` at `src_start` of trainer sync rank `src_rank`'s tensor
// `src_tensor` goes to `dst_start` of inference sync rank `dst_rank`'s tensor
// `dst_tensor`. The tensors point into the participants planned.
struct BoxMove {
  int src_rank = 0;
  const v1::ParameterSpec* src_tensor = nullptr;
  Shape src_start;
  int dst_rank = 0;
  const v1::ParameterSpec* dst_tensor = nullptr;
  Shape dst_start;
  Shape extent;

  int64_t bytes() const;
};

struct DirectMoves {
  // By destination rank, then its tensors and pieces in registration order.
  std::vector<BoxMove> moves;
  int64_t dst_bytes = 0;    // Bytes of every destination piece: what the moves write.
  int64_t dst_tensors = 0;  // Destination tensors.
};

// The moves of a sync of `participants` (which must outlive them).
// FAILED_PRECONDITION when a destination element has no source (naming the
// ranks, tensors and logical parameters, the first few of them), when a
// source and a destination of one region differ in dtype, and as
// BuildLogicalLayout.
absl::StatusOr<DirectMoves> PlanDirectMoves(const SyncParticipants& participants);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_RESHARD_DIRECT_PLAN_BUILDER_H_
