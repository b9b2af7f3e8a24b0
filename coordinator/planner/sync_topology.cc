#include "coordinator/planner/sync_topology.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace paramsync::planner {

absl::StatusOr<CommType> ParseCommType(absl::string_view name, absl::string_view field) {
  if (name == "broadcast") return CommType::kBroadcast;
  if (name == "p2p") return CommType::kP2P;
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is \"", name, "\"; accepted: \"broadcast\", \"p2p\""));
}

absl::StatusOr<RegroupCommType> ParseRegroupCommType(absl::string_view name,
                                                     absl::string_view field) {
  if (name == "alltoall") return RegroupCommType::kAllToAll;
  if (name == "allgather") return RegroupCommType::kAllGather;
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is \"", name,
                   "\"; accepted: \"alltoall\", \"allgather\" (how routed experts are "
                   "regrouped across the trainer's EP x TP ranks)"));
}

absl::string_view CommTypeName(CommType type) {
  switch (type) {
    case CommType::kBroadcast:
      return "broadcast";
    case CommType::kP2P:
      return "p2p";
  }
  return "unknown";
}

absl::string_view RegroupCommTypeName(RegroupCommType type) {
  switch (type) {
    case RegroupCommType::kAllToAll:
      return "alltoall";
    case RegroupCommType::kAllGather:
      return "allgather";
  }
  return "unknown";
}

}  // namespace paramsync::planner
