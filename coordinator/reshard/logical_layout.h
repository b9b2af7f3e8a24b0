// File: coordinator/reshard/logical_layout.h
// -----------------------------------------------------------------------------
// Where every element of every registered tensor of a sync sits in logical
// parameters: the unsharded, framework-neutral tensors both sides agree on
// (ParameterSpec.logical). The direct strategy plans in these coordinates and
// sync validation digests in them. Pure.
//
// A tensor's pieces are its explicit `logical` pieces when it has any, else one
// piece derived from its other fields (global_boxes.h): logical parameter
// `name`, of the shape the rank's TP (and, for routed experts of HEP groups,
// EP or regroup) layout gives, the whole tensor being its box there. Names of
// pipeline-parallel layers carry their global layer index, so the layers of
// any pipeline stage of one side meet the same layers on the other.
//
// Example: an inference rank of TP 3 holding rows [32, 64) of a [96, 16]
// weight "w" registers it with no pieces; its piece is
//   {logical_name "w", logical_shape [96,16], logical {[32,0], [32,16]},
//    local_start [0,0]}.
#ifndef PARAMSYNC_COORDINATOR_RESHARD_LOGICAL_LAYOUT_H_
#define PARAMSYNC_COORDINATOR_RESHARD_LOGICAL_LAYOUT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/reshard/box_algebra.h"
#include "coordinator/sync/sync_participants.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::coordinator {

// Box `logical` of logical parameter `logical_name` (of `logical_shape`) is
// the box of the same extent at `local_start` of a tensor.
struct Piece {
  std::string logical_name;
  Shape logical_shape;
  Box logical;
  Shape local_start;

  Box local() const { return Box{local_start, logical.extent}; }
};

// The pieces of `rank`'s tensor `parameter` in a sync of `participants`.
// FAILED_PRECONDITION, naming the rank and tensor, when its default piece
// cannot be placed (global_boxes.h). Explicit pieces were checked when the
// endpoint registered (endpoint_validation.h).
absl::StatusOr<std::vector<Piece>> PiecesOf(const SyncParticipants& participants,
                                            const SyncRank& rank,
                                            const v1::ParameterSpec& parameter);

// A piece and the tensor and rank that hold it.
struct HeldPiece {
  const SyncRank* rank = nullptr;
  const v1::ParameterSpec* tensor = nullptr;
  Piece piece;
};

// One logical parameter of a sync: its shape and every piece of it each side
// holds, in sync-rank order, then tensor and piece order.
struct LogicalParameter {
  Shape shape;
  std::vector<HeldPiece> sources;       // On trainer ranks.
  std::vector<HeldPiece> destinations;  // On inference ranks.
};

// Every logical parameter of a sync, by name.
struct LogicalLayout {
  std::map<std::string, LogicalParameter> parameters;
};

// The layout of every tensor of every rank. FAILED_PRECONDITION, naming both
// ranks and tensors, when two pieces of one logical parameter disagree on its
// shape, and as PiecesOf.
absl::StatusOr<LogicalLayout> BuildLogicalLayout(const SyncParticipants& participants);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_RESHARD_LOGICAL_LAYOUT_H_
