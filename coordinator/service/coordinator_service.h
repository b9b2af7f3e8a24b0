// File: coordinator/service/coordinator_service.h
// -----------------------------------------------------------------------------
// The Coordinator gRPC service. Each handler validates its request, makes one
// call into the registries or the sync manager, and converts the status; the
// domain logic lives behind them.
#ifndef PARAMSYNC_COORDINATOR_SERVICE_COORDINATOR_SERVICE_H_
#define PARAMSYNC_COORDINATOR_SERVICE_COORDINATOR_SERVICE_H_

#include "absl/time/time.h"
#include "coordinator/errors/error_channel.h"
#include "coordinator/registry/agent_registry.h"
#include "coordinator/registry/endpoint_registry.h"
#include "coordinator/sync/sync_manager.h"
#include "paramsync/v1/coordinator.grpc.pb.h"

namespace paramsync::coordinator {

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  // Pointers must outlive the service.
  CoordinatorService(AgentRegistry* agents, EndpointRegistry* endpoints, SyncManager* syncs,
                     ErrorChannel* errors, absl::Duration heartbeat_interval)
      : agents_(agents),
        endpoints_(endpoints),
        syncs_(syncs),
        errors_(errors),
        heartbeat_interval_(heartbeat_interval) {}

  grpc::Status RegisterAgent(grpc::ServerContext* context, const v1::RegisterAgentRequest* request,
                             v1::RegisterAgentResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status RegisterEndpoint(grpc::ServerContext* context,
                                const v1::RegisterEndpointRequest* request,
                                v1::RegisterEndpointResponse* response) override;
  grpc::Status CreateSyncGroup(grpc::ServerContext* context,
                               const v1::CreateSyncGroupRequest* request,
                               v1::CreateSyncGroupResponse* response) override;
  grpc::Status GetPlan(grpc::ServerContext* context, const v1::GetPlanRequest* request,
                       v1::GetPlanResponse* response) override;
  grpc::Status Sync(grpc::ServerContext* context, const v1::SyncRequest* request,
                    v1::SyncResponse* response) override;
  grpc::Status SyncWithProgress(grpc::ServerContext* context, const v1::SyncRequest* request,
                                grpc::ServerWriter<v1::SyncProgress>* writer) override;
  grpc::Status ListAgents(grpc::ServerContext* context, const v1::ListAgentsRequest* request,
                          v1::ListAgentsResponse* response) override;
  grpc::Status ListSyncGroups(grpc::ServerContext* context,
                              const v1::ListSyncGroupsRequest* request,
                              v1::ListSyncGroupsResponse* response) override;
  grpc::Status ListEndpoints(grpc::ServerContext* context, const v1::ListEndpointsRequest* request,
                             v1::ListEndpointsResponse* response) override;
  grpc::Status WatchErrors(grpc::ServerContext* context, const v1::WatchErrorsRequest* request,
                           grpc::ServerWriter<v1::ErrorEvent>* writer) override;
  grpc::Status ReportError(grpc::ServerContext* context, const v1::ReportErrorRequest* request,
                           v1::ReportErrorResponse* response) override;

 private:
  AgentRegistry* const agents_;
  EndpointRegistry* const endpoints_;
  SyncManager* const syncs_;
  ErrorChannel* const errors_;
  const absl::Duration heartbeat_interval_;
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SERVICE_COORDINATOR_SERVICE_H_
