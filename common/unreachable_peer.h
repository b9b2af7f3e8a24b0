// File: common/unreachable_peer.h
// -----------------------------------------------------------------------------
// An agent's error that names the peer agent it could not reach: a push whose
// connection failed, or went silent (a network cut between two agents that both
// still heartbeat to the coordinator). The coordinator blames that peer for
// the sync's failure, as it blames an agent that stopped heartbeating.
//
// Carried as a status payload, so it survives the RPC (common/grpc_status.h)
// and the context an error gains on its way up.
#ifndef PARAMSYNC_COMMON_UNREACHABLE_PEER_H_
#define PARAMSYNC_COMMON_UNREACHABLE_PEER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace paramsync {

// `status` (not OK) naming `agent_id` as the peer its agent could not reach.
absl::Status WithUnreachablePeer(absl::Status status, absl::string_view agent_id);

// The agent WithUnreachablePeer() named, or empty.
std::string UnreachablePeer(const absl::Status& status);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_UNREACHABLE_PEER_H_
