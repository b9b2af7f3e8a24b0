#include "client/agent_local.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_channels.h"
#include "common/grpc_status.h"
#include "paramsync/v1/agent.grpc.pb.h"

namespace paramsync::client {

absl::Status RegisterWithAgent(const std::string& agent_address,
                               const v1::LocalRegisterEndpointRequest& request,
                               absl::Duration timeout) {
  auto stub = v1::AgentLocal::NewStub(MakeAgentChannel(agent_address));
  grpc::ClientContext context;
  SetTimeout(context, timeout);
  context.set_wait_for_ready(true);  // The agent may still be starting.
  v1::LocalRegisterEndpointResponse response;
  return FromGrpcStatus(stub->RegisterEndpoint(&context, request, &response),
                        absl::StrCat("RegisterEndpoint on agent ", agent_address));
}

absl::StatusOr<int64_t> QueryVersion(const std::string& agent_address, const std::string& model,
                                     int rank, absl::Duration timeout) {
  auto stub = v1::AgentLocal::NewStub(MakeAgentChannel(agent_address));
  grpc::ClientContext context;
  SetTimeout(context, timeout);
  v1::GetVersionRequest request;
  request.mutable_endpoint()->set_model(model);
  request.mutable_endpoint()->set_rank(rank);
  v1::GetVersionResponse response;
  absl::Status status =
      FromGrpcStatus(stub->GetVersion(&context, request, &response), "GetVersion");
  if (!status.ok()) return status;
  return response.version();
}

}  // namespace paramsync::client
