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
  absl::StatusOr<v1::RunTasksResponse> RunTasks(const v1::RunTasksRequest& request,
                                                absl::Time deadline) override {
    v1::RunTasksResponse response;
    absl::Status status =
        Call("RunTasks", &v1::AgentControl::Stub::RunTasks, request, &response, deadline);
    if (!status.ok()) return status;
    return response;
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
    {
      absl::MutexLock lock(&mu_);
      in_flight_.push_back(&context);
    }
    grpc::Status status = (stub_.get()->*rpc)(&context, request, response);
    {
      absl::MutexLock lock(&mu_);
      in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), &context));
    }
    return FromGrpcStatus(status, absl::StrCat(method, " on agent ", address_));
  }

  const std::string address_;
  const std::unique_ptr<v1::AgentControl::Stub> stub_;
  absl::Mutex mu_;
  std::vector<grpc::ClientContext*> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

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
