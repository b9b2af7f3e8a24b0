// File: client/agent_local.h
// -----------------------------------------------------------------------------
// The two calls a framework process makes to its local agent, shared by the
// host and device endpoint kinds.
#ifndef PARAMSYNC_CLIENT_AGENT_LOCAL_H_
#define PARAMSYNC_CLIENT_AGENT_LOCAL_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

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

// Keeps an endpoint attached to its agent: a stream held open from a background
// thread for as long as this object lives. If the process dies, the stream
// breaks and the agent marks the endpoint gone, so syncs fail instead of moving
// stale bytes. Destroying it detaches (the endpoint is closed on purpose).
class AgentAttachment {
 public:
  static std::unique_ptr<AgentAttachment> Start(const std::string& agent_address,
                                                const std::string& model, int rank);
  ~AgentAttachment();

 private:
  AgentAttachment() = default;
  grpc::ClientContext context_;
  std::thread reader_;
};

// The weights version the agent says (model, rank) holds.
absl::StatusOr<int64_t> QueryVersion(const std::string& agent_address, const std::string& model,
                                     int rank, absl::Duration timeout);

}  // namespace paramsync::client

#endif  // PARAMSYNC_CLIENT_AGENT_LOCAL_H_
