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
  v1::LocalRegisterEndpointRequest registration;
  registration.mutable_endpoint()->set_model(model);
  registration.mutable_endpoint()->set_rank(rank);
  std::unique_ptr<AgentAttachment> attachment(new AgentAttachment());
  AgentAttachment* self = attachment.get();
  self->reader_ = std::thread([self, agent_address, registration] {
    self->Run(agent_address, registration, /*reregister=*/false);
  });
  return attachment;
}

std::unique_ptr<AgentAttachment> AgentAttachment::Start(
    const std::string& agent_address, v1::LocalRegisterEndpointRequest registration) {
  std::unique_ptr<AgentAttachment> attachment(new AgentAttachment());
  AgentAttachment* self = attachment.get();
  self->reader_ = std::thread([self, agent_address, registration = std::move(registration)] {
    self->Run(agent_address, registration, /*reregister=*/true);
  });
  return attachment;
}

bool AgentAttachment::Cancellable(grpc::ClientContext& context) {
  absl::MutexLock lock(&mu_);
  if (stop_.HasBeenNotified()) return false;
  current_ = &context;
  return true;
}

void AgentAttachment::Done() {
  absl::MutexLock lock(&mu_);
  current_ = nullptr;
}

void AgentAttachment::Run(const std::string& agent_address,
                          const v1::LocalRegisterEndpointRequest& registration, bool reregister) {
  // Registration used the same credentials, so they loaded then.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = ClientChannel(agent_address);
  if (!channel.ok()) return;
  auto stub = v1::AgentLocal::NewStub(*channel);
  v1::AttachRequest request;
  request.mutable_endpoint()->set_model(registration.endpoint().model());
  request.mutable_endpoint()->set_rank(registration.endpoint().rank());
  bool registered = true;  // By the caller, before this started.
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stop_.HasBeenNotified()) {
    if (!registered) {
      // Waits for an agent to answer at the address (a restarted one).
      grpc::ClientContext context;
      SetTimeout(context, absl::Seconds(5));
      context.set_wait_for_ready(true);
      if (!Cancellable(context)) return;
      v1::LocalRegisterEndpointResponse response;
      grpc::Status status = stub->RegisterEndpoint(&context, registration, &response);
      Done();
      if (!status.ok()) {
        // Also while the agent has not registered with its coordinator yet.
        stop_.WaitForNotificationWithTimeout(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(2));
        continue;
      }
      registered = true;
      backoff = absl::Milliseconds(100);
    }
    // No deadline: the stream lives exactly as long as the endpoint; it ends
    // when the destructor cancels it or the agent goes away.
    grpc::ClientContext context;
    if (!Cancellable(context)) return;
    std::unique_ptr<grpc::ClientReader<v1::AttachEvent>> reader = stub->Attach(&context, request);
    v1::AttachEvent event;
    while (reader->Read(&event)) {
    }
    reader->Finish();
    Done();
    if (!reregister) return;
    // The agent went away (or no longer knows the endpoint): register again.
    registered = false;
    stop_.WaitForNotificationWithTimeout(backoff);
  }
}

AgentAttachment::~AgentAttachment() {
  {
    absl::MutexLock lock(&mu_);
    stop_.Notify();
    if (current_ != nullptr) current_->TryCancel();
  }
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
