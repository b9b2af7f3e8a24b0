// File: agent/service/agent_local_service.h
// -----------------------------------------------------------------------------
// AgentLocal: what framework processes on this host call. An endpoint is mapped
// here first (so bad shared memory is refused before anyone else sees it), then
// forwarded to the coordinator; if the coordinator refuses it, it is forgotten.
#ifndef PARAMSYNC_AGENT_SERVICE_AGENT_LOCAL_SERVICE_H_
#define PARAMSYNC_AGENT_SERVICE_AGENT_LOCAL_SERVICE_H_

#include <atomic>

#include "absl/synchronization/notification.h"
#include "agent/coordinator_link.h"
#include "agent/tensors/tensor_registry.h"
#include "paramsync/v1/agent.grpc.pb.h"

namespace paramsync::agent {

class AgentLocalService final : public v1::AgentLocal::Service {
 public:
  // `link` may be null until set_link(): requests meanwhile get UNAVAILABLE.
  AgentLocalService(TensorRegistry* tensors, CoordinatorLink* link)
      : tensors_(tensors), link_(link) {}

  void set_link(CoordinatorLink* link) { link_.store(link); }

  grpc::Status RegisterEndpoint(grpc::ServerContext* context,
                                const v1::LocalRegisterEndpointRequest* request,
                                v1::LocalRegisterEndpointResponse* response) override;
  grpc::Status GetVersion(grpc::ServerContext* context, const v1::GetVersionRequest* request,
                          v1::GetVersionResponse* response) override;
  grpc::Status Attach(grpc::ServerContext* context, const v1::AttachRequest* request,
                      grpc::ServerWriter<v1::AttachEvent>* writer) override;

  // Ends every Attach stream (agent shutdown) without marking endpoints gone.
  // Idempotent.
  void Shutdown() {
    if (!shutdown_requested_.exchange(true)) shutting_down_.Notify();
  }

 private:
  TensorRegistry* const tensors_;
  std::atomic<CoordinatorLink*> link_;
  std::atomic<bool> shutdown_requested_{false};
  absl::Notification shutting_down_;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_SERVICE_AGENT_LOCAL_SERVICE_H_
