#include "agent/service/agent_control_service.h"

#include <glog/logging.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/request_deadline.h"

namespace paramsync::agent {

grpc::Status AgentControlService::NewGroupIds(grpc::ServerContext*,
                                              const v1::NewGroupIdsRequest* request,
                                              v1::NewGroupIdsResponse* response) {
  // Bounded: a sync has at most a few groups per agent and rank.
  if (request->count() < 0 || request->count() > 65536) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("count is ", request->count(), "; accepted: 0 to 65536")));
  }
  for (int i = 0; i < request->count(); ++i) {
    absl::StatusOr<std::string> id = transport_->NewGroupId();
    if (!id.ok()) return ToGrpcStatus(id.status());
    response->add_ids(*std::move(id));
  }
  return grpc::Status::OK;
}

grpc::Status AgentControlService::SetupGroups(grpc::ServerContext*,
                                              const v1::SetupGroupsRequest* request,
                                              v1::SetupGroupsResponse*) {
  absl::Status status = groups_->SetupAll(request->groups());
  if (!status.ok()) return ToGrpcStatus(status);
  if (request->plan_id() != 0) tasks_.Store(request->plan_id(), request->tasks());
  return grpc::Status::OK;
}

grpc::Status AgentControlService::RunTasks(grpc::ServerContext* context,
                                           const v1::RunTasksRequest* request,
                                           v1::RunTasksResponse* response) {
  if (request->sync_id() == 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("sync_id must be > 0"));
  }
  absl::StatusOr<v1::RunTasksResponse> result;
  const bool named_plan =
      request->tasks().transfers().empty() && request->tasks().regroups().empty();
  if (named_plan && request->plan_id() != 0) {
    absl::StatusOr<std::shared_ptr<const TaskCache::Tasks>> tasks = tasks_.Find(request->plan_id());
    if (!tasks.ok()) return ToGrpcStatus(tasks.status());
    result = runner_->Run(*request, **tasks, RequestDeadline(*context));
  } else {
    result = runner_->Run(*request, RequestDeadline(*context));
  }
  if (!result.ok()) {
    LOG(ERROR) << "sync " << request->sync_id() << " version " << request->version()
               << " failed here: " << result.status();
    return ToGrpcStatus(result.status());
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status AgentControlService::Commit(grpc::ServerContext*, const v1::CommitRequest* request,
                                         v1::CommitResponse*) {
  for (const v1::EndpointRef& endpoint : request->endpoints()) {
    tensors_->SetVersion(EndpointKey(endpoint.model(), endpoint.rank()), request->version());
  }
  return grpc::Status::OK;
}

grpc::Status AgentControlService::DestroyGroups(grpc::ServerContext*,
                                                const v1::DestroyGroupsRequest* request,
                                                v1::DestroyGroupsResponse*) {
  groups_->Destroy(std::vector<std::string>(request->names().begin(), request->names().end()));
  return grpc::Status::OK;
}

grpc::Status AgentControlService::Abort(grpc::ServerContext*, const v1::AbortRequest* request,
                                        v1::AbortResponse*) {
  LOG(WARNING) << "aborting sync " << request->sync_id() << ": " << request->reason();
  transport_->Abort(
      request->sync_id(),
      absl::AbortedError(absl::StrCat("sync aborted by the coordinator: ", request->reason())));
  return grpc::Status::OK;
}

}  // namespace paramsync::agent
