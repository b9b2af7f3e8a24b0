// File: agent/coordinator_link.h
// -----------------------------------------------------------------------------
// The agent's side of its relationship with the coordinator: registration,
// heartbeats, and re-registration (of the agent and all its endpoints) when the
// coordinator answers NOT_FOUND, as it does after a restart or a lost lease.
#ifndef PARAMSYNC_AGENT_COORDINATOR_LINK_H_
#define PARAMSYNC_AGENT_COORDINATOR_LINK_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/tensors/tensor_registry.h"
#include "paramsync/v1/coordinator.grpc.pb.h"

namespace paramsync::agent {

class CoordinatorLink {
 public:
  // `tensors` supplies the endpoints to re-register and must outlive this.
  CoordinatorLink(std::shared_ptr<grpc::Channel> channel, v1::AgentInfo self,
                  TensorRegistry* tensors, absl::Duration rpc_timeout);
  ~CoordinatorLink();  // Stops the heartbeat thread.

  // Told, from the link's thread, whenever the link comes up (registered and
  // heartbeating) or goes down (unreachable, or the coordinator forgot this
  // agent); it starts down. Set before Start().
  void set_on_connected(std::function<void(bool connected)> on_connected) {
    on_connected_ = std::move(on_connected);
  }

  // Starts the background thread that registers and then heartbeats.
  void Start();

  // Blocks until registered or `timeout`; DEADLINE_EXCEEDED says why not.
  absl::Status WaitRegistered(absl::Duration timeout);

  // Forwards a framework endpoint. UNAVAILABLE while not registered.
  absl::Status RegisterEndpoint(const v1::LocalRegisterEndpointRequest& request);

  std::string agent_id() const;

  // Sends `error` to the coordinator's error channel as soon as it is
  // reachable and this agent registered with it (e.g. a sync this agent
  // aborted because the coordinator went away: reported to the next one). At
  // most kMaxQueuedErrors wait; older ones are dropped.
  void QueueError(const absl::Status& error);
  static constexpr size_t kMaxQueuedErrors = 64;

 private:
  void Loop();
  absl::Status Register();
  absl::Status SendEndpoint(const std::string& agent_id,
                            const v1::LocalRegisterEndpointRequest& request);
  // Sends an error to the coordinator's error channel; best effort.
  absl::Status ReportError(const absl::Status& error);
  // Sends what QueueError() queued, while the coordinator takes it.
  void SendQueuedErrors();
  // Calls on_connected_ when `connected` differs from the last state told.
  void SetConnected(bool connected);

  const std::unique_ptr<v1::Coordinator::Stub> stub_;
  const v1::AgentInfo self_;
  TensorRegistry* const tensors_;
  const absl::Duration rpc_timeout_;

  mutable absl::Mutex mu_;
  std::string agent_id_ ABSL_GUARDED_BY(mu_);  // Empty while not registered.
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(1);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::Status> queued_errors_ ABSL_GUARDED_BY(mu_);

  std::function<void(bool)> on_connected_;
  bool connected_ = false;  // Used by the link's thread only.

  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_COORDINATOR_LINK_H_
