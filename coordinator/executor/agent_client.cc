#include "coordinator/executor/agent_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_channels.h"
#include "common/grpc_status.h"
#include "paramsync/v1/agent.grpc.pb.h"

namespace paramsync::coordinator {
namespace {

class GrpcAgentClient final : public AgentClientInterface {
  // A RunTasks call on a round's completion queue.
  class RunTasksOnQueue final : public RunTasksRound::Call {
   public:
    explicit RunTasksOnQueue(GrpcAgentClient* client) : client_(client) {}
    absl::StatusOr<v1::RunTasksResponse> Finish() override {
      client_->Untrack(&context_);
      absl::Status status =
          FromGrpcStatus(status_, absl::StrCat("RunTasks on agent ", client_->address_));
      if (!status.ok()) return status;
      return std::move(response_);
    }

   private:
    friend class GrpcAgentClient;
    GrpcAgentClient* const client_;
    grpc::ClientContext context_;
    v1::RunTasksResponse response_;
    grpc::Status status_;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::RunTasksResponse>> reader_;
  };

 public:
  GrpcAgentClient(const std::string& address, std::shared_ptr<grpc::Channel> channel)
      : address_(address), stub_(v1::AgentControl::NewStub(std::move(channel))) {}

  absl::StatusOr<v1::NewGroupIdsResponse> NewGroupIds(const v1::NewGroupIdsRequest& request,
                                                      absl::Time deadline) override {
    v1::NewGroupIdsResponse response;
    absl::Status status =
        Call("NewGroupIds", &v1::AgentControl::Stub::NewGroupIds, request, &response, deadline);
    if (!status.ok()) return status;
    return response;
  }
  absl::Status SetupGroups(const v1::SetupGroupsRequest& request, absl::Time deadline) override {
    v1::SetupGroupsResponse response;
    return Call("SetupGroups", &v1::AgentControl::Stub::SetupGroups, request, &response, deadline);
  }
  void StartRunTasks(const v1::RunTasksRequest& request, absl::Time deadline, size_t index,
                     RunTasksRound& round) override {
    auto call = std::make_unique<RunTasksOnQueue>(this);
    RunTasksOnQueue* started = call.get();
    started->context_.set_deadline(absl::ToChronoTime(deadline));
    Track(&started->context_);
    started->reader_ = stub_->AsyncRunTasks(&started->context_, request, round.queue());
    started->reader_->Finish(&started->response_, &started->status_,
                             round.Start(index, std::move(call)));
  }
  absl::Status Commit(const v1::CommitRequest& request, absl::Time deadline) override {
    v1::CommitResponse response;
    return Call("Commit", &v1::AgentControl::Stub::Commit, request, &response, deadline);
  }
  absl::Status DestroyGroups(const v1::DestroyGroupsRequest& request,
                             absl::Time deadline) override {
    v1::DestroyGroupsResponse response;
    return Call("DestroyGroups", &v1::AgentControl::Stub::DestroyGroups, request, &response,
                deadline);
  }
  absl::Status Abort(const v1::AbortRequest& request, absl::Time deadline) override {
    v1::AbortResponse response;
    return Call("Abort", &v1::AgentControl::Stub::Abort, request, &response, deadline);
  }
  absl::StatusOr<v1::DigestResponse> Digest(const v1::DigestRequest& request,
                                            absl::Time deadline) override {
    v1::DigestResponse response;
    absl::Status status =
        Call("Digest", &v1::AgentControl::Stub::Digest, request, &response, deadline);
    if (!status.ok()) return status;
    return response;
  }
  absl::StatusOr<v1::LoraResponse> Lora(const v1::LoraRequest& request,
                                        absl::Time deadline) override {
    v1::LoraResponse response;
    absl::Status status = Call("Lora", &v1::AgentControl::Stub::Lora, request, &response, deadline);
    if (!status.ok()) return status;
    return response;
  }
  void CancelAll() override {
    absl::MutexLock lock(&mu_);
    for (grpc::ClientContext* context : in_flight_) context->TryCancel();
  }

 private:
  template <typename Request, typename Response>
  absl::Status Call(const char* method,
                    grpc::Status (v1::AgentControl::Stub::*rpc)(grpc::ClientContext*,
                                                                const Request&, Response*),
                    const Request& request, Response* response, absl::Time deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    Track(&context);
    grpc::Status status = (stub_.get()->*rpc)(&context, request, response);
    Untrack(&context);
    return FromGrpcStatus(status, absl::StrCat(method, " on agent ", address_));
  }
  // CancelAll() cancels the calls of the contexts tracked.
  void Track(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu_);
    in_flight_.push_back(context);
  }
  void Untrack(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu_);
    in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), context));
  }

  const std::string address_;
  const std::unique_ptr<v1::AgentControl::Stub> stub_;
  absl::Mutex mu_;
  std::vector<grpc::ClientContext*> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void AgentClientInterface::StartRunTasks(const v1::RunTasksRequest& request, absl::Time deadline,
                                         size_t index, RunTasksRound& round) {
  round.StartOnThread(index, [this, request, deadline] { return RunTasks(request, deadline); });
}

AgentClientPool::Factory AgentClientPool::GrpcClients(ChannelFactory channels) {
  return [channels = std::move(channels)](const std::string& address) {
    return std::make_shared<GrpcAgentClient>(address, channels(address));
  };
}

AgentClientPool::AgentClientPool() : factory_(GrpcClients(&MakeAgentChannel)) {}

std::shared_ptr<AgentClientInterface> AgentClientPool::Get(const std::string& address) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<AgentClientInterface>& client = clients_[address];
  if (client == nullptr) client = factory_(address);
  return client;
}

void AgentClientPool::Forget(const std::string& address) {
  absl::MutexLock lock(&mu_);
  clients_.erase(address);
}

void AgentClientPool::CancelAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [address, client] : clients_) client->CancelAll();
}

}  // namespace paramsync::coordinator
