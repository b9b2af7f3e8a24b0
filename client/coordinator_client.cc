#include "client/coordinator_client.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "client/client_security.h"
#include "common/grpc_status.h"

namespace paramsync::client {
namespace {

absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelWith(const std::string& address,
                                                           const SecurityConfig& security) {
  absl::StatusOr<Credentials> credentials = LoadCredentials(security);
  if (!credentials.ok()) return credentials.status();
  return MakeChannel(address, *credentials, credentials->token);
}

template <typename Request, typename Response>
absl::StatusOr<Response> Call(v1::Coordinator::Stub* stub, const absl::Status& channel_status,
                              grpc::Status (v1::Coordinator::Stub::*rpc)(grpc::ClientContext*,
                                                                         const Request&, Response*),
                              const Request& request, absl::Duration timeout, const char* method) {
  if (stub == nullptr) return channel_status;
  grpc::ClientContext context;
  SetTimeout(context, timeout);
  Response response;
  absl::Status status = FromGrpcStatus((stub->*rpc)(&context, request, &response), method);
  if (!status.ok()) return status;
  return response;
}

}  // namespace

CoordinatorClient::CoordinatorClient(const std::string& address)
    : CoordinatorClient(address, ClientChannel(address)) {}

CoordinatorClient::CoordinatorClient(const std::string& address, const SecurityConfig& security)
    : CoordinatorClient(address, ChannelWith(address, security)) {}

CoordinatorClient::CoordinatorClient(const std::string& address,
                                     absl::StatusOr<std::shared_ptr<grpc::Channel>> channel)
    : address_(address),
      channel_status_(channel.status()),
      stub_(channel.ok() ? v1::Coordinator::NewStub(*channel) : nullptr) {}

absl::Status CoordinatorClient::CreateSyncGroup(const v1::SyncGroupSpec& group,
                                                absl::Duration timeout) {
  v1::CreateSyncGroupRequest request;
  *request.mutable_group() = group;
  return Call(stub_.get(), channel_status_, &v1::Coordinator::Stub::CreateSyncGroup, request,
              timeout, "CreateSyncGroup")
      .status();
}

absl::StatusOr<v1::SyncResponse> CoordinatorClient::Sync(const std::string& group,
                                                         absl::Duration timeout) {
  v1::SyncRequest request;
  request.set_group(group);
  return Sync(request, timeout);
}

absl::StatusOr<v1::SyncResponse> CoordinatorClient::Sync(const v1::SyncRequest& request,
                                                         absl::Duration timeout) {
  return Call(stub_.get(), channel_status_, &v1::Coordinator::Stub::Sync, request, timeout, "Sync");
}

absl::StatusOr<v1::SyncResponse> CoordinatorClient::SyncWithProgress(
    const v1::SyncRequest& request, const std::function<void(const v1::SyncProgress&)>& on_progress,
    absl::Duration timeout) {
  if (stub_ == nullptr) return channel_status_;
  grpc::ClientContext context;
  SetTimeout(context, timeout);
  std::unique_ptr<grpc::ClientReader<v1::SyncProgress>> reader =
      stub_->SyncWithProgress(&context, request);
  v1::SyncProgress event;
  std::optional<v1::SyncResponse> report;
  while (reader->Read(&event)) {
    on_progress(event);
    if (event.phase() == v1::SYNC_PHASE_DONE) report = event.report();
  }
  absl::Status status = FromGrpcStatus(reader->Finish(), "SyncWithProgress");
  if (!status.ok()) return status;
  if (!report.has_value()) {
    return absl::UnavailableError(absl::StrCat("SyncWithProgress of group ", request.group(),
                                               " on ", address_,
                                               ": the stream ended without the sync's report"));
  }
  return *std::move(report);
}

absl::StatusOr<v1::SyncPlan> CoordinatorClient::GetPlan(const std::string& group,
                                                        absl::Duration timeout) {
  v1::GetPlanRequest request;
  request.set_group(group);
  absl::StatusOr<v1::GetPlanResponse> response = Call(
      stub_.get(), channel_status_, &v1::Coordinator::Stub::GetPlan, request, timeout, "GetPlan");
  if (!response.ok()) return response.status();
  return response->plan();
}

absl::StatusOr<v1::ListAgentsResponse> CoordinatorClient::ListAgents(absl::Duration timeout) {
  return Call(stub_.get(), channel_status_, &v1::Coordinator::Stub::ListAgents,
              v1::ListAgentsRequest(), timeout, "ListAgents");
}

absl::StatusOr<v1::ListEndpointsResponse> CoordinatorClient::ListEndpoints(const std::string& model,
                                                                           absl::Duration timeout) {
  v1::ListEndpointsRequest request;
  request.set_model(model);
  return Call(stub_.get(), channel_status_, &v1::Coordinator::Stub::ListEndpoints, request, timeout,
              "ListEndpoints");
}

absl::StatusOr<v1::ListSyncGroupsResponse> CoordinatorClient::ListSyncGroups(
    absl::Duration timeout) {
  return Call(stub_.get(), channel_status_, &v1::Coordinator::Stub::ListSyncGroups,
              v1::ListSyncGroupsRequest(), timeout, "ListSyncGroups");
}

absl::Status CoordinatorClient::WatchErrors(
    const std::function<bool(const v1::ErrorEvent&)>& on_event, absl::Duration timeout) {
  return WatchErrors(on_event, timeout, absl::UnixEpoch());
}

absl::Status CoordinatorClient::WatchErrors(
    const std::function<bool(const v1::ErrorEvent&)>& on_event, absl::Duration timeout,
    absl::Time since) {
  if (stub_ == nullptr) return channel_status_;
  grpc::ClientContext context;
  SetTimeout(context, timeout);
  v1::WatchErrorsRequest request;
  if (since > absl::UnixEpoch()) request.set_since_unix_ms(absl::ToUnixMillis(since));
  std::unique_ptr<grpc::ClientReader<v1::ErrorEvent>> reader =
      stub_->WatchErrors(&context, request);
  v1::ErrorEvent event;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      context.TryCancel();
      reader->Finish();
      return absl::OkStatus();
    }
  }
  grpc::Status status = reader->Finish();
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return absl::OkStatus();
  return FromGrpcStatus(status, "WatchErrors");
}

}  // namespace paramsync::client
