// File: coordinator/executor/agent_client.h
// -----------------------------------------------------------------------------
// The calls the coordinator makes to an agent, behind an interface so that the
// executor does not depend on gRPC plumbing, and a pool that keeps one client
// per agent address. Every call has a deadline.
#ifndef PARAMSYNC_COORDINATOR_EXECUTOR_AGENT_CLIENT_H_
#define PARAMSYNC_COORDINATOR_EXECUTOR_AGENT_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/executor/run_tasks_round.h"
#include "paramsync/v1/agent.pb.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace paramsync::coordinator {

class AgentClientInterface {
 public:
  virtual ~AgentClientInterface() = default;
  virtual absl::StatusOr<v1::NewGroupIdsResponse> NewGroupIds(const v1::NewGroupIdsRequest& request,
                                                              absl::Time deadline) = 0;
  virtual absl::Status SetupGroups(const v1::SetupGroupsRequest& request, absl::Time deadline) = 0;
  // Starts RunTasks as answer `index` of `round`; CancelAll() cancels it too.
  // The client must outlive the call. This default runs RunTasks() on a
  // thread of the round.
  virtual void StartRunTasks(const v1::RunTasksRequest& request, absl::Time deadline, size_t index,
                             RunTasksRound& round);
  // RunTasks as one blocking call, for clients without an asynchronous path
  // (test fakes): those that override StartRunTasks need not implement it.
  virtual absl::StatusOr<v1::RunTasksResponse> RunTasks(const v1::RunTasksRequest&, absl::Time) {
    return absl::UnimplementedError("this agent client runs RunTasks only through StartRunTasks");
  }
  virtual absl::Status Commit(const v1::CommitRequest& request, absl::Time deadline) = 0;
  virtual absl::Status DestroyGroups(const v1::DestroyGroupsRequest& request,
                                     absl::Time deadline) = 0;
  virtual absl::Status Abort(const v1::AbortRequest& request, absl::Time deadline) = 0;
  // Validated syncs only: clients that never serve one need not implement it.
  virtual absl::StatusOr<v1::DigestResponse> Digest(const v1::DigestRequest&, absl::Time) {
    return absl::UnimplementedError("this agent client computes no digests");
  }
  // LoRA merge syncs only, likewise.
  virtual absl::StatusOr<v1::LoraResponse> Lora(const v1::LoraRequest&, absl::Time) {
    return absl::UnimplementedError("this agent client merges no LoRA adapters");
  }
  // Makes calls in flight return CANCELLED now (coordinator shutdown).
  virtual void CancelAll() = 0;
};

class AgentClientPool {
 public:
  using Factory = std::function<std::shared_ptr<AgentClientInterface>(const std::string& address)>;

  using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(const std::string& address)>;

  // gRPC clients over channels from `channels` (TLS, the coordinator's token).
  static Factory GrpcClients(ChannelFactory channels);

  // The default factory makes gRPC clients over plaintext channels.
  AgentClientPool();
  explicit AgentClientPool(Factory factory) : factory_(std::move(factory)) {}

  std::shared_ptr<AgentClientInterface> Get(const std::string& address);
  void CancelAll();
  // Drops the client of `address` (its calls in flight keep it): the next
  // Get() makes a new one, whose channel connects at once instead of after the
  // reconnect backoff a dead agent left the old one in.
  void Forget(const std::string& address);

 private:
  const Factory factory_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<AgentClientInterface>> clients_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_EXECUTOR_AGENT_CLIENT_H_
