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

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
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
  // Same, and when the stream breaks while this lives (the agent died or
  // restarted) it registers `registration` (the endpoint's tensors, in the
  // same memory) again as soon as an agent answers at the address, and
  // attaches again: a restarted agent gets its endpoints back by itself.
  static std::unique_ptr<AgentAttachment> Start(const std::string& agent_address,
                                                v1::LocalRegisterEndpointRequest registration);
  ~AgentAttachment();

 private:
  AgentAttachment() = default;
  void Run(const std::string& agent_address, const v1::LocalRegisterEndpointRequest& registration,
           bool reregister);
  // Makes `context` the one the destructor cancels; false once stopping.
  bool Cancellable(grpc::ClientContext& context);
  void Done();

  absl::Notification stop_;
  absl::Mutex mu_;
  grpc::ClientContext* current_ ABSL_GUARDED_BY(mu_) = nullptr;  // The call in flight.
  std::thread reader_;
};

// The weights version the agent says (model, rank) holds.
absl::StatusOr<int64_t> QueryVersion(const std::string& agent_address, const std::string& model,
                                     int rank, absl::Duration timeout);

}  // namespace paramsync::client

#endif  // PARAMSYNC_CLIENT_AGENT_LOCAL_H_
