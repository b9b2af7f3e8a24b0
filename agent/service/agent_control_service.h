// File: agent/service/agent_control_service.h
// -----------------------------------------------------------------------------
// AgentControl: the RPCs the coordinator drives a sync with. Each handler checks
// its request, makes one call into the agent's components and converts the
// status.
//
// A RunTasks call that is cancelled while it runs (the coordinator died, gave
// up on this agent, or the deadline passed) aborts the sync's transfers here,
// so that this agent and the peers waiting on it stop instead of blocking
// until the deadline; the abort is reported to the coordinator's error
// channel once one is reachable.
//
// An Abort of a sync also restores the base weights merged for it (Lora's
// MERGE), so that a failed sync leaves the trainer's weights as they were.
#ifndef PARAMSYNC_AGENT_SERVICE_AGENT_CONTROL_SERVICE_H_
#define PARAMSYNC_AGENT_SERVICE_AGENT_CONTROL_SERVICE_H_

#include <atomic>
#include <memory>

#include "agent/coordinator_link.h"
#include "agent/metrics/agent_metrics.h"
#include "agent/tasks/digest_runner.h"
#include "agent/tasks/group_table.h"
#include "agent/tasks/lora_merger.h"
#include "agent/tasks/received_bytes_corrupter.h"
#include "agent/tasks/task_cache.h"
#include "agent/tasks/task_runner.h"
#include "agent/tensors/tensor_registry.h"
#include "agent/transport/transport.h"
#include "paramsync/v1/agent.grpc.pb.h"

namespace paramsync::agent {

class AgentControlService final : public v1::AgentControl::Service {
 public:
  // All pointers must outlive the service.
  AgentControlService(TensorRegistry* tensors, GroupTable* groups, TaskRunner* runner,
                      Transport* transport, DigestRunner* digests, LoraMerger* lora);
  ~AgentControlService() override;

  // Where aborts of cancelled RunTasks calls are reported; null (the default):
  // only logged.
  void set_link(CoordinatorLink* link) { link_.store(link); }

  // Where runs and failed calls are recorded; optional, set before serving.
  void set_metrics(AgentMetrics* metrics) { metrics_ = metrics; }

  // Testing only: damages received bytes after every successful RunTasks
  // (received_bytes_corrupter.h). Call before serving.
  void set_corrupter_for_test(const ReceivedBytesCorrupter* corrupter) {
    corrupter_for_test_ = corrupter;
  }

  grpc::Status NewGroupIds(grpc::ServerContext* context, const v1::NewGroupIdsRequest* request,
                           v1::NewGroupIdsResponse* response) override;
  grpc::Status SetupGroups(grpc::ServerContext* context, const v1::SetupGroupsRequest* request,
                           v1::SetupGroupsResponse* response) override;
  grpc::Status RunTasks(grpc::ServerContext* context, const v1::RunTasksRequest* request,
                        v1::RunTasksResponse* response) override;
  grpc::Status Commit(grpc::ServerContext* context, const v1::CommitRequest* request,
                      v1::CommitResponse* response) override;
  grpc::Status DestroyGroups(grpc::ServerContext* context, const v1::DestroyGroupsRequest* request,
                             v1::DestroyGroupsResponse* response) override;
  grpc::Status Abort(grpc::ServerContext* context, const v1::AbortRequest* request,
                     v1::AbortResponse* response) override;
  grpc::Status Digest(grpc::ServerContext* context, const v1::DigestRequest* request,
                      v1::DigestResponse* response) override;
  grpc::Status Lora(grpc::ServerContext* context, const v1::LoraRequest* request,
                    v1::LoraResponse* response) override;

 private:
  // The endpoints now hold `version`: all their bytes of it arrived.
  void CommitVersion(const google::protobuf::RepeatedPtrField<v1::EndpointRef>& endpoints,
                     int64_t version);

  TensorRegistry* const tensors_;
  GroupTable* const groups_;
  TaskRunner* const runner_;
  Transport* const transport_;
  DigestRunner* const digests_;
  LoraMerger* const lora_;
  const ReceivedBytesCorrupter* corrupter_for_test_ = nullptr;
  AgentMetrics* metrics_ = nullptr;
  TaskCache tasks_;
  std::atomic<CoordinatorLink*> link_{nullptr};
  class CancelWatch;  // Polls running RunTasks calls for cancellation.
  const std::unique_ptr<CancelWatch> cancel_watch_;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_SERVICE_AGENT_CONTROL_SERVICE_H_
