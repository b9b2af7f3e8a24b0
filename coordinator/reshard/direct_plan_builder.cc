#include "coordinator/reshard/direct_plan_builder.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/dtype.h"
#include "common/status_macros.h"
#include "coordinator/reshard/logical_layout.h"

namespace paramsync::coordinator {
namespace {

// A FAILED_PRECONDITION shows this many problems, then how many more there are.
constexpr size_t kShownProblems = 8;

class Planner {
 public:
  explicit Planner(const SyncParticipants& participants) : participants_(participants) {}

  absl::StatusOr<DirectMoves> Plan() && {
    ASSIGN_OR_RETURN(const LogicalLayout layout, BuildLogicalLayout(participants_));
    // Destination pieces are planned in rank order, so that each rank's moves
    // are together and the choice of senders is deterministic.
    std::vector<std::pair<const HeldPiece*, const LogicalParameter*>> destinations;
    for (const auto& [name, parameter] : layout.parameters) {
      for (const HeldPiece& piece : parameter.destinations) {
        destinations.emplace_back(&piece, &parameter);
      }
    }
    std::stable_sort(destinations.begin(), destinations.end(), [](const auto& a, const auto& b) {
      return a.first->rank->sync_rank < b.first->rank->sync_rank;
    });
    const std::map<std::string, std::map<Box, std::vector<const HeldPiece*>>> sources =
        DistinctSources(layout);
    for (const auto& [destination, parameter] : destinations) {
      auto boxes = sources.find(destination->piece.logical_name);
      RETURN_IF_ERROR(Cover(*destination, boxes == sources.end() ? nullptr : &boxes->second));
    }
    if (!missing_.empty()) {
      const size_t shown = std::min(missing_.size(), kShownProblems);
      return absl::FailedPreconditionError(absl::StrCat(
          "the trainer does not hold every element the inference ranks need: ",
          absl::StrJoin(missing_.begin(), missing_.begin() + shown, "; "),
          missing_.size() > shown ? absl::StrCat("; and ", missing_.size() - shown, " more") : ""));
    }
    for (const SyncRank& rank : participants_.ranks) {
      if (rank.sync_rank >= participants_.num_src) {
        out_.dst_tensors += static_cast<int64_t>(rank.endpoint.parameters.size());
      }
    }
    return std::move(out_);
  }

 private:
  // Each logical parameter's distinct source boxes, with every piece holding
  // exactly that box (its copies), in sync-rank order.
  static std::map<std::string, std::map<Box, std::vector<const HeldPiece*>>> DistinctSources(
      const LogicalLayout& layout) {
    std::map<std::string, std::map<Box, std::vector<const HeldPiece*>>> out;
    for (const auto& [name, parameter] : layout.parameters) {
      for (const HeldPiece& piece : parameter.sources) {
        out[name][piece.piece.logical].push_back(&piece);
      }
    }
    return out;
  }

  // Moves covering `destination` from `sources` (null: none hold its logical
  // parameter); what stays uncovered is recorded as missing.
  absl::Status Cover(const HeldPiece& destination,
                     const std::map<Box, std::vector<const HeldPiece*>>* sources) {
    const Box& wanted = destination.piece.logical;
    out_.dst_bytes += Volume(wanted.extent) * DTypeSize(destination.tensor->dtype());
    std::vector<Box> uncovered = {wanted};
    if (sources != nullptr) {
      for (const auto& [box, copies] : *sources) {
        if (uncovered.empty()) break;
        if (!Intersect(box, wanted).has_value()) continue;
        std::vector<Box> rest;
        for (const Box& open : uncovered) {
          const std::optional<Box> common = Intersect(open, box);
          if (!common.has_value()) {
            rest.push_back(open);
            continue;
          }
          RETURN_IF_ERROR(AddMove(*common, *Choose(copies, destination, *common), destination));
          for (Box& left : Subtract(open, *common)) rest.push_back(std::move(left));
        }
        uncovered = std::move(rest);
      }
    }
    if (!uncovered.empty()) RecordMissing(destination, uncovered, sources == nullptr);
    return absl::OkStatus();
  }

  // The copy of a region `destination` receives from: on its agent, else on
  // its host, else one that already sends to it, else the one that sent the
  // fewest bytes so far.
  const HeldPiece* Choose(const std::vector<const HeldPiece*>& copies, const HeldPiece& destination,
                          const Box& region) {
    const v1::AgentInfo& receiver = destination.rank->agent;
    const int receiver_rank = destination.rank->sync_rank;
    auto cost = [&](const HeldPiece* copy) {
      const v1::AgentInfo& sender = copy->rank->agent;
      const int distance = sender.agent_id() == receiver.agent_id() ? 0
                           : sender.host() == receiver.host()       ? 1
                                                                    : 2;
      const int sender_rank = copy->rank->sync_rank;
      const bool connected = pairs_.count({sender_rank, receiver_rank}) > 0;
      return std::make_tuple(distance, !connected, sent_[sender_rank], sender_rank);
    };
    const HeldPiece* best = *std::min_element(
        copies.begin(), copies.end(),
        [&](const HeldPiece* a, const HeldPiece* b) { return cost(a) < cost(b); });
    sent_[best->rank->sync_rank] += Volume(region.extent) * DTypeSize(best->tensor->dtype());
    pairs_.insert({best->rank->sync_rank, receiver_rank});
    return best;
  }

  absl::Status AddMove(const Box& region, const HeldPiece& source, const HeldPiece& destination) {
    if (source.tensor->dtype() != destination.tensor->dtype()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "dtype mismatch for logical parameter '", destination.piece.logical_name,
          "': ", Describe(*source.rank), " tensor '", source.tensor->name(), "' is ",
          DTypeName(source.tensor->dtype()), ", ", Describe(*destination.rank), " tensor '",
          destination.tensor->name(), "' is ", DTypeName(destination.tensor->dtype())));
    }
    BoxMove move;
    move.src_rank = source.rank->sync_rank;
    move.src_tensor = source.tensor;
    move.src_start = Translate(region, source.piece.logical.start, source.piece.local_start).start;
    move.dst_rank = destination.rank->sync_rank;
    move.dst_tensor = destination.tensor;
    move.dst_start =
        Translate(region, destination.piece.logical.start, destination.piece.local_start).start;
    move.extent = region.extent;
    out_.moves.push_back(std::move(move));
    return absl::OkStatus();
  }

  void RecordMissing(const HeldPiece& destination, const std::vector<Box>& uncovered,
                     bool no_source) {
    int64_t elements = 0;
    for (const Box& box : uncovered) elements += Volume(box.extent);
    missing_.push_back(absl::StrCat(
        Describe(*destination.rank), " tensor '", destination.tensor->name(), "' lacks ", elements,
        " of ", Volume(destination.piece.logical.extent), " elements of logical '",
        destination.piece.logical_name, "' (first at ", ShapeString(uncovered.front().start), ")",
        no_source ? ", which no trainer rank holds" : ""));
  }

  const SyncParticipants& participants_;
  DirectMoves out_;
  std::map<int, int64_t> sent_;          // Bytes each source sync rank sends so far.
  std::set<std::pair<int, int>> pairs_;  // (Source, destination) sync ranks with moves.
  std::vector<std::string> missing_;
};

}  // namespace

int64_t BoxMove::bytes() const { return Volume(extent) * DTypeSize(src_tensor->dtype()); }

absl::StatusOr<DirectMoves> PlanDirectMoves(const SyncParticipants& participants) {
  return Planner(participants).Plan();
}

}  // namespace paramsync::coordinator
