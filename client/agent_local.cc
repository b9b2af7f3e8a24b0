#include "client/agent_local.h"

#include "absl/strings/str_cat.h"
#include "client/client_security.h"
#include "common/grpc_status.h"
#include "paramsync/v1/agent.grpc.pb.h"

namespace paramsync::client {

absl::Status RegisterWithAgent(const std::string& agent_address,
                               const v1::LocalRegisterEndpointRequest& request,
                               absl::Duration timeout) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = ClientChannel(agent_address);
  if (!channel.ok()) return channel.status();
  auto stub = v1::AgentLocal::NewStub(*channel);
  grpc::ClientContext context;
  SetTimeout(context, timeout);
  context.set_wait_for_ready(true);  // The agent may still be starting.
  v1::LocalRegisterEndpointResponse response;
  return FromGrpcStatus(stub->RegisterEndpoint(&context, request, &response),
                        absl::StrCat("RegisterEndpoint on agent ", agent_address));
}

std::unique_ptr<AgentAttachment> AgentAttachment::Start(const std::string& agent_address,
                                                        const std::string& model, int rank) {
  std::unique_ptr<AgentAttachment> attachment(new AgentAttachment());
  v1::AttachRequest request;
  request.mutable_endpoint()->set_model(model);
  request.mutable_endpoint()->set_rank(rank);
  // No deadline: the stream lives exactly as long as the endpoint; it ends when
  // the destructor cancels it or the agent goes away.
  AgentAttachment* self = attachment.get();
  self->reader_ = std::thread([self, agent_address, request] {
    // Registration used the same credentials, so they loaded then.
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = ClientChannel(agent_address);
    if (!channel.ok()) return;
    auto stub = v1::AgentLocal::NewStub(*channel);
    std::unique_ptr<grpc::ClientReader<v1::AttachEvent>> reader =
        stub->Attach(&self->context_, request);
    v1::AttachEvent event;
    while (reader->Read(&event)) {
    }
    reader->Finish();
  });
  return attachment;
}

AgentAttachment::~AgentAttachment() {
  context_.TryCancel();
  if (reader_.joinable()) reader_.join();
}

absl::StatusOr<int64_t> QueryVersion(const std::string& agent_address, const std::string& model,
                                     int rank, absl::Duration timeout) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = ClientChannel(agent_address);
  if (!channel.ok()) return channel.status();
  auto stub = v1::AgentLocal::NewStub(*channel);
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
