#include "coordinator/sync/global_boxes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "coordinator/sync/regroup_plan_builder.h"

namespace paramsync::coordinator {

absl::StatusOr<GlobalBox> GlobalBoxOf(const SyncParticipants& participants, const SyncRank& rank,
                                      const v1::ParameterSpec& parameter) {
  const bool is_src = rank.sync_rank < participants.num_src;
  const v1::ParallelConfig& parallel = rank.endpoint.spec.parallel();
  const int tp = std::max(1, parallel.tp_size());
  const int ep = std::max(1, parallel.ep_size());
  GlobalBox box;
  box.extent.assign(parameter.shape().begin(), parameter.shape().end());
  box.shape = box.extent;
  box.start.assign(box.extent.size(), 0);
  // Block `part` of `parts` along `dim`.
  auto split = [&](int dim, int parts, int part, const char* what) -> absl::Status {
    if (dim < 0 || dim >= static_cast<int>(box.extent.size()) || part < 0 || part >= parts) {
      return absl::FailedPreconditionError(absl::StrCat(
          Describe(rank), " tensor '", parameter.name(), "': its ", what, " (dimension ", dim,
          ", block ", part, " of ", parts, ") does not place it in the full parameter of its ",
          box.extent.size(), "-dimensional shape"));
    }
    box.shape[dim] = box.extent[dim] * parts;
    box.start[dim] = box.extent[dim] * part;
    return absl::OkStatus();
  };
  bool tp_split = parameter.has_tp_split_dim();
  if (IsRouted(participants.topology, parameter)) {
    const planner::ModelParallelism& src = participants.topology.src;
    const planner::ModelParallelism& dst = participants.topology.dst;
    if (is_src) {
      absl::Status status =
          split(parameter.expert_dim(), ep, parallel.ep_rank(), "expert parallel block");
      if (!status.ok()) return status;
    } else if (src.tp * src.ep == dst.tp * dst.ep) {
      // Whole experts: the rank's block of the replica's tp * ep.
      absl::Status status = split(parameter.expert_dim(), tp * ep,
                                  parallel.ep_rank() * tp + parallel.tp_rank(), "expert block");
      if (!status.ok()) return status;
      tp_split = false;
    }
  }
  if (tp_split) {
    absl::Status status = split(parameter.tp_split_dim(), tp, parallel.tp_rank(), "TP shard");
    if (!status.ok()) return status;
  }
  return box;
}

}  // namespace paramsync::coordinator
