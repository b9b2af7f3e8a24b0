// File: client/agent_local.h
// -----------------------------------------------------------------------------
// The two calls a framework process makes to its local agent, shared by the
// host and device endpoint kinds.
#ifndef PARAMSYNC_CLIENT_AGENT_LOCAL_H_
#define PARAMSYNC_CLIENT_AGENT_LOCAL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::client {

// Registers `request` (tensors already placed: shared memory or CUDA IPC) with
// the agent at `agent_address`, waiting for the agent to come up within
// `timeout`. The agent's and coordinator's errors come back unchanged.
absl::Status RegisterWithAgent(const std::string& agent_address,
                               const v1::LocalRegisterEndpointRequest& request,
                               absl::Duration timeout);

// The weights version the agent says (model, rank) holds.
absl::StatusOr<int64_t> QueryVersion(const std::string& agent_address, const std::string& model,
                                     int rank, absl::Duration timeout);

}  // namespace paramsync::client

#endif  // PARAMSYNC_CLIENT_AGENT_LOCAL_H_
