#include "coordinator/service/coordinator_service.h"

#include <glog/logging.h>

#include "common/dtype.h"
#include "common/grpc_status.h"
#include "common/request_deadline.h"

namespace paramsync::coordinator {

grpc::Status CoordinatorService::RegisterAgent(grpc::ServerContext*,
                                               const v1::RegisterAgentRequest* request,
                                               v1::RegisterAgentResponse* response) {
  absl::StatusOr<std::string> id = agents_->Register(request->agent());
  if (!id.ok()) return ToGrpcStatus(id.status());
  LOG(INFO) << "agent " << *id << " registered from " << request->agent().address();
  response->set_agent_id(*id);
  response->set_heartbeat_interval_ms(absl::ToInt64Milliseconds(heartbeat_interval_));
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::Heartbeat(grpc::ServerContext*,
                                           const v1::HeartbeatRequest* request,
                                           v1::HeartbeatResponse*) {
  return ToGrpcStatus(agents_->Heartbeat(request->agent_id()));
}

grpc::Status CoordinatorService::RegisterEndpoint(grpc::ServerContext*,
                                                  const v1::RegisterEndpointRequest* request,
                                                  v1::RegisterEndpointResponse*) {
  absl::Status status = endpoints_->Register(*request);
  if (status.ok()) {
    LOG(INFO) << "endpoint " << request->endpoint().model() << " rank "
              << request->endpoint().rank() << " registered by " << request->agent_id() << " ("
              << request->parameters_size() << " parameters)";
  }
  return ToGrpcStatus(status);
}

grpc::Status CoordinatorService::CreateSyncGroup(grpc::ServerContext*,
                                                 const v1::CreateSyncGroupRequest* request,
                                                 v1::CreateSyncGroupResponse*) {
  return ToGrpcStatus(syncs_->CreateGroup(request->group()));
}

grpc::Status CoordinatorService::GetPlan(grpc::ServerContext*, const v1::GetPlanRequest* request,
                                         v1::GetPlanResponse* response) {
  absl::StatusOr<v1::SyncPlan> plan = syncs_->GetPlan(request->group());
  if (!plan.ok()) return ToGrpcStatus(plan.status());
  *response->mutable_plan() = *std::move(plan);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::Sync(grpc::ServerContext* context, const v1::SyncRequest* request,
                                      v1::SyncResponse* response) {
  absl::StatusOr<v1::SyncResponse> result = syncs_->Sync(*request, RequestDeadline(*context));
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::SyncWithProgress(grpc::ServerContext* context,
                                                  const v1::SyncRequest* request,
                                                  grpc::ServerWriter<v1::SyncProgress>* writer) {
  // The reporter calls this one event at a time. A caller that went away only
  // misses the events: the sync goes on, as a unary Sync would.
  bool caller_gone = false;
  absl::StatusOr<v1::SyncResponse> result =
      syncs_->Sync(*request, RequestDeadline(*context), [&](const v1::SyncProgress& event) {
        if (!caller_gone && !writer->Write(event)) caller_gone = true;
      });
  return ToGrpcStatus(result.status());
}

grpc::Status CoordinatorService::ListAgents(grpc::ServerContext*, const v1::ListAgentsRequest*,
                                            v1::ListAgentsResponse* response) {
  for (v1::AgentInfo& agent : agents_->ListWithHeartbeatAge()) {
    *response->add_agents() = std::move(agent);
  }
  response->set_lease_ms(absl::ToInt64Milliseconds(agents_->lease()));
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListSyncGroups(grpc::ServerContext*,
                                                const v1::ListSyncGroupsRequest*,
                                                v1::ListSyncGroupsResponse* response) {
  for (v1::SyncGroupStatus& group : syncs_->ListGroups()) {
    *response->add_groups() = std::move(group);
  }
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListEndpoints(grpc::ServerContext*,
                                               const v1::ListEndpointsRequest* request,
                                               v1::ListEndpointsResponse* response) {
  const std::vector<EndpointRecord> records =
      request->model().empty() ? endpoints_->All() : endpoints_->Model(request->model());
  for (const EndpointRecord& record : records) {
    v1::EndpointStatus* status = response->add_endpoints();
    *status->mutable_endpoint() = record.spec;
    status->set_agent_id(record.agent_id);
    status->set_parameters(static_cast<int>(record.parameters.size()));
    int64_t bytes = 0;
    for (const v1::ParameterSpec& p : record.parameters) {
      bytes += static_cast<int64_t>(TensorBytes(p.dtype(), p.shape()).value_or(0));
    }
    status->set_bytes(bytes);
    status->set_version(record.version);
    status->set_interrupted_version(record.interrupted_version);
  }
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::WatchErrors(grpc::ServerContext* context,
                                             const v1::WatchErrorsRequest* request,
                                             grpc::ServerWriter<v1::ErrorEvent>* writer) {
  std::shared_ptr<ErrorChannel::Subscription> subscription = errors_->Subscribe(
      request->since_unix_ms() > 0 ? absl::FromUnixMillis(request->since_unix_ms())
                                   : absl::InfiniteFuture());
  // Polls so that a cancelled watcher or a closing channel ends the stream promptly.
  while (!context->IsCancelled() && !subscription->closed()) {
    std::optional<v1::ErrorEvent> event = subscription->Next(absl::Milliseconds(200));
    if (event.has_value() && !writer->Write(*event)) break;
  }
  errors_->Unsubscribe(subscription);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ReportError(grpc::ServerContext*,
                                             const v1::ReportErrorRequest* request,
                                             v1::ReportErrorResponse*) {
  LOG(WARNING) << "agent " << request->event().agent_id()
               << " reports: " << request->event().message();
  errors_->Publish(request->event());
  return grpc::Status::OK;
}

}  // namespace paramsync::coordinator
