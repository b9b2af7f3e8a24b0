#include "coordinator/reshard/logical_layout.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/sync/global_boxes.h"

namespace paramsync::coordinator {

absl::StatusOr<std::vector<Piece>> PiecesOf(const SyncParticipants& participants,
                                            const SyncRank& rank,
                                            const v1::ParameterSpec& parameter) {
  std::vector<Piece> out;
  if (parameter.logical().empty()) {
    ASSIGN_OR_RETURN(GlobalBox box, GlobalBoxOf(participants, rank, parameter));
    Shape local_start(box.start.size(), 0);
    out.push_back(Piece{parameter.name(), std::move(box.shape),
                        Box{std::move(box.start), std::move(box.extent)}, std::move(local_start)});
    return out;
  }
  for (const v1::LogicalPiece& p : parameter.logical()) {
    out.push_back(
        Piece{p.logical_name(), Shape(p.logical_shape().begin(), p.logical_shape().end()),
              Box{Shape(p.logical_box().start().begin(), p.logical_box().start().end()),
                  Shape(p.logical_box().extent().begin(), p.logical_box().extent().end())},
              Shape(p.local_box().start().begin(), p.local_box().start().end())});
  }
  return out;
}

absl::StatusOr<LogicalLayout> BuildLogicalLayout(const SyncParticipants& participants) {
  LogicalLayout layout;
  // The first piece seen of each logical parameter, to name in a mismatch.
  std::map<std::string, HeldPiece> first;
  for (const SyncRank& rank : participants.ranks) {
    const bool source = rank.sync_rank < participants.num_src;
    for (const v1::ParameterSpec& tensor : rank.endpoint.parameters) {
      ASSIGN_OR_RETURN(std::vector<Piece> pieces, PiecesOf(participants, rank, tensor));
      for (Piece& piece : pieces) {
        HeldPiece held{&rank, &tensor, std::move(piece)};
        auto [seen, inserted] = first.try_emplace(held.piece.logical_name, held);
        LogicalParameter& parameter = layout.parameters[held.piece.logical_name];
        if (inserted) {
          parameter.shape = held.piece.logical_shape;
        } else if (parameter.shape != held.piece.logical_shape) {
          const HeldPiece& other = seen->second;
          return absl::FailedPreconditionError(absl::StrCat(
              "logical parameter '", held.piece.logical_name, "' is ",
              ShapeString(other.piece.logical_shape), " in ", Describe(*other.rank), " tensor '",
              other.tensor->name(), "' but ", ShapeString(held.piece.logical_shape), " in ",
              Describe(rank), " tensor '", tensor.name(),
              "'; every piece of a logical parameter must give the same logical_shape"));
        }
        (source ? parameter.sources : parameter.destinations).push_back(std::move(held));
      }
    }
  }
  return layout;
}

}  // namespace paramsync::coordinator
