#include "coordinator/sync/validation_plan.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "coordinator/reshard/box_algebra.h"
#include "coordinator/reshard/logical_layout.h"

namespace paramsync::coordinator {
namespace {

// Of the copies of one box of a logical parameter, the one digested.
struct SourceCopy {
  const HeldPiece* held = nullptr;
  int agent = -1;  // Its agent's index in the transfer plan; -1: takes no part.
};

class Builder {
 public:
  Builder(const SyncParticipants& participants, const TransferPlan& transfer)
      : participants_(participants) {
    plan_.requests.resize(transfer.agents.size());
    for (size_t i = 0; i < transfer.agents.size(); ++i) {
      agents_[transfer.agents[i].agent.agent_id()] = static_cast<int>(i);
      // Agents keep the items under the transfer plan's id (a validation plan
      // is one transfer plan's): later syncs name it instead.
      plan_.requests[i].set_plan_id(transfer.agents[i].groups.plan_id());
    }
  }

  absl::StatusOr<ValidationPlan> Build() && {
    ASSIGN_OR_RETURN(const LogicalLayout layout, BuildLogicalLayout(participants_));
    // Per logical parameter, the copy digested of each of its boxes.
    std::map<std::string, std::map<Box, SourceCopy>> copies_of;
    // Checks in destination order (rank, tensor, piece), as errors list them.
    std::vector<std::pair<const HeldPiece*, const LogicalParameter*>> destinations;
    for (const auto& [name, parameter] : layout.parameters) {
      // Sources come in sync-rank order: each box's first copy whose agent
      // takes part.
      std::map<Box, SourceCopy>& copies = copies_of[name];
      for (const HeldPiece& source : parameter.sources) {
        SourceCopy& copy = copies[source.piece.logical];
        if (copy.held == nullptr || copy.agent < 0) copy = {&source, AgentOf(*source.rank)};
      }
      for (const HeldPiece& d : parameter.destinations) destinations.emplace_back(&d, &parameter);
    }
    std::sort(destinations.begin(), destinations.end(), [](const auto& a, const auto& b) {
      const HeldPiece& x = *a.first;
      const HeldPiece& y = *b.first;
      // A rank's tensors lie in registration order in its parameter list.
      return std::tie(x.rank->sync_rank, x.tensor, x.piece.local_start) <
             std::tie(y.rank->sync_rank, y.tensor, y.piece.local_start);
    });
    for (const auto& [destination, parameter] : destinations) {
      RETURN_IF_ERROR(
          AddCheck(parameter->shape, copies_of[destination->piece.logical_name], *destination));
    }
    return std::move(plan_);
  }

 private:
  // The transfer plan's index of `rank`'s agent, or -1 when it has none.
  int AgentOf(const SyncRank& rank) const {
    auto it = agents_.find(rank.agent.agent_id());
    return it == agents_.end() ? -1 : it->second;
  }

  // The item digesting box `local` of `held`'s tensor, which lies at
  // `logical_start` of its logical parameter of `shape`.
  ValidationPlan::DigestRef AddItem(int agent, const HeldPiece& held, const Box& local,
                                    const Shape& shape, const Shape& logical_start) {
    v1::DigestRequest& request = plan_.requests[agent];
    v1::DigestItem* item = request.add_items();
    item->mutable_endpoint()->set_model(held.rank->endpoint.spec.model());
    item->mutable_endpoint()->set_rank(held.rank->endpoint.spec.rank());
    item->set_name(held.tensor->name());
    item->mutable_region()->mutable_start()->Add(local.start.begin(), local.start.end());
    item->mutable_region()->mutable_extent()->Add(local.extent.begin(), local.extent.end());
    item->mutable_global_shape()->Add(shape.begin(), shape.end());
    item->mutable_global_start()->Add(logical_start.begin(), logical_start.end());
    return {agent, request.items_size() - 1};
  }

  // The source item digesting box `common` (logical) of `copy`, each once.
  ValidationPlan::DigestRef SourceItem(const SourceCopy& copy, const Box& common,
                                       const Shape& shape) {
    const Piece& piece = copy.held->piece;
    const Box local = Translate(common, piece.logical.start, piece.local_start);
    const std::string key =
        absl::StrCat(copy.held->rank->sync_rank, "/", copy.held->tensor->name(), "/",
                     absl::StrJoin(local.start, ","), "/", absl::StrJoin(local.extent, ","));
    auto [ref, added] = source_items_.try_emplace(key);
    if (added) ref->second = AddItem(copy.agent, *copy.held, local, shape, common.start);
    return ref->second;
  }

  absl::Status AddCheck(const Shape& shape, const std::map<Box, SourceCopy>& copies,
                        const HeldPiece& destination) {
    const Piece& piece = destination.piece;
    const std::string& tensor_name = destination.tensor->name();
    ValidationPlan::Check check;
    check.tensor = absl::StrCat(destination.rank->endpoint.spec.model(), " rank ",
                                destination.rank->endpoint.spec.rank(), " '", tensor_name, "'",
                                piece.logical_name == tensor_name
                                    ? ""
                                    : absl::StrCat(" (logical '", piece.logical_name, "')"));
    const std::string where = absl::StrCat("validation cannot check ", check.tensor, " (",
                                           Describe(*destination.rank), ")");
    const int agent = AgentOf(*destination.rank);
    if (agent < 0) {
      return absl::FailedPreconditionError(absl::StrCat(where, ": its agent takes no part"));
    }
    check.destination = AddItem(agent, destination, piece.local(), shape, piece.logical.start);
    // Cut the piece into regions, each from one source copy (an empty piece
    // digests to 0 with none).
    std::vector<Box> uncovered;
    if (Volume(piece.logical.extent) > 0) uncovered.push_back(piece.logical);
    for (const auto& [box, copy] : copies) {
      std::vector<Box> rest;
      for (const Box& region : uncovered) {
        const std::optional<Box> common = Intersect(region, box);
        if (!common.has_value()) {
          rest.push_back(region);
          continue;
        }
        if (copy.agent < 0) {
          return absl::FailedPreconditionError(
              absl::StrCat(where, ": no trainer rank holding its part ", BoxString(*common),
                           " takes part in the sync"));
        }
        check.sources.push_back(SourceItem(copy, *common, shape));
        for (Box& left : Subtract(region, *common)) rest.push_back(std::move(left));
      }
      uncovered = std::move(rest);
      if (uncovered.empty()) break;
    }
    if (!uncovered.empty()) {
      int64_t missing = 0;
      for (const Box& region : uncovered) missing += Volume(region.extent);
      return absl::FailedPreconditionError(absl::StrCat(
          where, ": the trainer holds no copy of ", missing, " of its ",
          Volume(piece.logical.extent), " elements (first at ", ShapeString(uncovered[0].start),
          " of logical parameter '", piece.logical_name, "' ", ShapeString(shape), ")"));
    }
    plan_.checks.push_back(std::move(check));
    return absl::OkStatus();
  }

  const SyncParticipants& participants_;
  absl::flat_hash_map<std::string, int> agents_;  // Agent id -> transfer plan index.
  absl::flat_hash_map<std::string, ValidationPlan::DigestRef> source_items_;
  ValidationPlan plan_;
};

}  // namespace

absl::StatusOr<ValidationPlan> BuildValidationPlan(const SyncParticipants& participants,
                                                   const TransferPlan& transfer) {
  return Builder(participants, transfer).Build();
}

}  // namespace paramsync::coordinator
