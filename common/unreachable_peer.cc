#include "common/unreachable_peer.h"

#include "absl/strings/cord.h"

namespace paramsync {
namespace {

constexpr char kUnreachablePeerUrl[] = "type.paramsync.dev/unreachable_peer";

}  // namespace

absl::Status WithUnreachablePeer(absl::Status status, absl::string_view agent_id) {
  if (!status.ok() && !agent_id.empty()) {
    status.SetPayload(kUnreachablePeerUrl, absl::Cord(agent_id));
  }
  return status;
}

std::string UnreachablePeer(const absl::Status& status) {
  absl::optional<absl::Cord> peer = status.GetPayload(kUnreachablePeerUrl);
  return peer.has_value() ? std::string(*peer) : std::string();
}

}  // namespace paramsync
