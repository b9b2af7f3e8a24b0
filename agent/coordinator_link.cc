#include "agent/coordinator_link.h"

#include <glog/logging.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace paramsync::agent {
namespace {

// How long to wait before retrying an unreachable coordinator.
constexpr absl::Duration kRetryInterval = absl::Milliseconds(200);

}  // namespace

CoordinatorLink::CoordinatorLink(std::shared_ptr<grpc::Channel> channel, v1::AgentInfo self,
                                 TensorRegistry* tensors, absl::Duration rpc_timeout)
    : stub_(v1::Coordinator::NewStub(channel)),
      self_(std::move(self)),
      tensors_(tensors),
      rpc_timeout_(rpc_timeout) {}

CoordinatorLink::~CoordinatorLink() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void CoordinatorLink::Start() {
  thread_ = std::thread([this] { Loop(); });
}

std::string CoordinatorLink::agent_id() const {
  absl::MutexLock lock(&mu_);
  return agent_id_;
}

absl::Status CoordinatorLink::WaitRegistered(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto registered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !agent_id_.empty(); };
  if (mu_.AwaitWithTimeout(absl::Condition(&registered), timeout)) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("not registered with the coordinator after ",
                                                  absl::FormatDuration(timeout),
                                                  last_error_.empty() ? "" : ": ", last_error_));
}

absl::Status CoordinatorLink::Register() {
  grpc::ClientContext context;
  SetTimeout(context, rpc_timeout_);
  v1::RegisterAgentRequest request;
  *request.mutable_agent() = self_;
  v1::RegisterAgentResponse response;
  absl::Status status =
      FromGrpcStatus(stub_->RegisterAgent(&context, request, &response), "RegisterAgent");
  if (!status.ok()) return status;
  // Endpoints first, then publish the id: a sync must not see the agent without them.
  std::vector<absl::Status> refused;
  for (const v1::LocalRegisterEndpointRequest& endpoint : tensors_->Registrations()) {
    absl::Status sent = SendEndpoint(response.agent_id(), endpoint);
    if (!sent.ok()) {
      refused.push_back(absl::Status(
          sent.code(), absl::StrCat("re-registering endpoint ", endpoint.endpoint().model(),
                                    " rank ", endpoint.endpoint().rank(), ": ", sent.message())));
      LOG(ERROR) << refused.back();
    }
  }
  {
    absl::MutexLock lock(&mu_);
    agent_id_ = response.agent_id();
    if (response.heartbeat_interval_ms() > 0) {
      heartbeat_interval_ = absl::Milliseconds(response.heartbeat_interval_ms());
    }
  }
  // Nobody waits on this agent for them: the error channel is where they surface.
  for (const absl::Status& error : refused) (void)ReportError(error);
  LOG(INFO) << "registered with the coordinator as " << response.agent_id();
  return absl::OkStatus();
}

void CoordinatorLink::SetConnected(bool connected) {
  if (connected == connected_) return;
  connected_ = connected;
  if (on_connected_) on_connected_(connected);
}

void CoordinatorLink::Loop() {
  while (!stop_.HasBeenNotified()) {
    std::string id = agent_id();
    absl::Duration wait = kRetryInterval;
    if (id.empty()) {
      absl::Status status = Register();
      SetConnected(status.ok());
      if (status.ok()) SendQueuedErrors();
      absl::MutexLock lock(&mu_);
      if (!status.ok()) {
        last_error_ = std::string(status.message());
      } else {
        wait = heartbeat_interval_;
      }
    } else {
      grpc::ClientContext context;
      SetTimeout(context, rpc_timeout_);
      v1::HeartbeatRequest request;
      request.set_agent_id(id);
      v1::HeartbeatResponse response;
      grpc::Status status = stub_->Heartbeat(&context, request, &response);
      SetConnected(status.ok());
      // Only to a coordinator that knows this agent: the event names it.
      if (status.ok()) SendQueuedErrors();
      absl::MutexLock lock(&mu_);
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
        LOG(WARNING) << "coordinator does not know agent " << id << "; registering again";
        agent_id_.clear();
        wait = absl::ZeroDuration();
      } else {
        if (!status.ok()) LOG(WARNING) << "heartbeat failed: " << status.error_message();
        wait = heartbeat_interval_;
      }
    }
    stop_.WaitForNotificationWithTimeout(wait);
  }
}

absl::Status CoordinatorLink::SendEndpoint(const std::string& agent_id,
                                           const v1::LocalRegisterEndpointRequest& local) {
  grpc::ClientContext context;
  SetTimeout(context, rpc_timeout_);
  v1::RegisterEndpointRequest request;
  request.set_agent_id(agent_id);
  *request.mutable_endpoint() = local.endpoint();
  // What it holds (0 for a new registration): a restarted coordinator's status
  // then shows the versions endpoints really hold.
  request.set_version(
      tensors_->GetVersion(EndpointKey(local.endpoint().model(), local.endpoint().rank()))
          .value_or(0));
  for (const v1::LocalTensor& tensor : local.tensors()) {
    v1::ParameterSpec* parameter = request.add_parameters();
    *parameter = tensor.spec();
    parameter->set_storage(
        tensor.cuda_ipc_handle().empty()
            ? absl::StrCat("shm:", tensor.shm_name())
            : absl::StrCat("cuda:", absl::BytesToHexString(tensor.cuda_ipc_handle())));
    parameter->set_storage_offset(tensor.offset());
  }
  v1::RegisterEndpointResponse response;
  return FromGrpcStatus(stub_->RegisterEndpoint(&context, request, &response),
                        "coordinator RegisterEndpoint");
}

absl::Status CoordinatorLink::RegisterEndpoint(const v1::LocalRegisterEndpointRequest& request) {
  const std::string id = agent_id();
  if (id.empty()) {
    return absl::UnavailableError("this agent is not registered with the coordinator yet");
  }
  return SendEndpoint(id, request);
}

void CoordinatorLink::QueueError(const absl::Status& error) {
  absl::MutexLock lock(&mu_);
  queued_errors_.push_back(error);
  if (queued_errors_.size() > kMaxQueuedErrors) queued_errors_.pop_front();
}

void CoordinatorLink::SendQueuedErrors() {
  while (!stop_.HasBeenNotified()) {
    absl::Status error;
    {
      absl::MutexLock lock(&mu_);
      if (queued_errors_.empty() || agent_id_.empty()) return;
      error = queued_errors_.front();
      queued_errors_.pop_front();
    }
    if (!ReportError(error).ok()) {
      absl::MutexLock lock(&mu_);  // Kept for the next attempt.
      queued_errors_.push_front(error);
      return;
    }
  }
}

absl::Status CoordinatorLink::ReportError(const absl::Status& error) {
  grpc::ClientContext context;
  SetTimeout(context, rpc_timeout_);
  v1::ReportErrorRequest request;
  v1::ErrorEvent* event = request.mutable_event();
  event->set_time_unix_ms(absl::ToUnixMillis(absl::Now()));
  event->set_code(static_cast<int>(error.code()));
  event->set_message(std::string(error.message()));
  event->set_agent_id(agent_id());
  v1::ReportErrorResponse response;
  grpc::Status status = stub_->ReportError(&context, request, &response);
  if (!status.ok()) LOG(WARNING) << "could not report an error: " << status.error_message();
  return FromGrpcStatus(status, "ReportError");
}

}  // namespace paramsync::agent
