#include "agent/service/agent_local_service.h"

#include <glog/logging.h>

#include "common/grpc_status.h"

namespace paramsync::agent {

grpc::Status AgentLocalService::RegisterEndpoint(grpc::ServerContext*,
                                                 const v1::LocalRegisterEndpointRequest* request,
                                                 v1::LocalRegisterEndpointResponse*) {
  CoordinatorLink* link = link_.load();
  if (link == nullptr) {
    return ToGrpcStatus(absl::UnavailableError("the agent is still starting"));
  }
  absl::Status status = tensors_->RegisterEndpoint(*request);
  if (!status.ok()) return ToGrpcStatus(status);
  const EndpointKey key(request->endpoint().model(), request->endpoint().rank());
  status = link->RegisterEndpoint(*request);
  if (!status.ok()) {
    tensors_->Remove(key);
    return ToGrpcStatus(status);
  }
  LOG(INFO) << "registered endpoint " << key.first << " rank " << key.second << " with "
            << request->tensors_size() << " tensors";
  return grpc::Status::OK;
}

grpc::Status AgentLocalService::GetVersion(grpc::ServerContext*,
                                           const v1::GetVersionRequest* request,
                                           v1::GetVersionResponse* response) {
  absl::StatusOr<int64_t> version =
      tensors_->GetVersion(EndpointKey(request->endpoint().model(), request->endpoint().rank()));
  if (!version.ok()) return ToGrpcStatus(version.status());
  response->set_version(*version);
  return grpc::Status::OK;
}

grpc::Status AgentLocalService::Attach(grpc::ServerContext* context,
                                       const v1::AttachRequest* request,
                                       grpc::ServerWriter<v1::AttachEvent>*) {
  const EndpointKey key(request->endpoint().model(), request->endpoint().rank());
  absl::StatusOr<uint64_t> registration = tensors_->Registration(key);
  if (!registration.ok()) return ToGrpcStatus(registration.status());
  // A process that dies closes its connection, which cancels this call.
  while (!context->IsCancelled()) {
    if (shutting_down_.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
      return grpc::Status::OK;
    }
  }
  LOG(WARNING) << "the framework process of " << key.first << " rank " << key.second
               << " detached; its endpoint is gone until registered again";
  tensors_->MarkGone(key, *registration);
  return grpc::Status::OK;
}

}  // namespace paramsync::agent
