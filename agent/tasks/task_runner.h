// File: agent/tasks/task_runner.h
// -----------------------------------------------------------------------------
// Executes this agent's part of a sync (a RunTasksRequest): first its part of
// every routed-expert regroup (HEP), then stage by stage every send whose root is
// one of this agent's endpoints and every receive of one of its endpoints, all
// of a stage at once.
//
// A receiver that keeps its whole tensor receives straight into it. One that
// keeps a slice (dst TP = k x src TP) or must forward the whole tensor in a later
// stage receives into a staging buffer first; staging lives until Run() returns,
// so it never holds more than the shards this agent forwards or slices.
#ifndef PARAMSYNC_AGENT_TASKS_TASK_RUNNER_H_
#define PARAMSYNC_AGENT_TASKS_TASK_RUNNER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/memory/memory_ops.h"
#include "agent/metrics/agent_metrics.h"
#include "agent/tasks/group_table.h"
#include "agent/tensors/tensor_registry.h"
#include "agent/transport/transport.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::agent {

// Buffers of cached plans' tasks, resolved once (task_runner.cc).
class ResolvedTaskCache;

class TaskRunner {
 public:
  // The pointers must outlive the runner. `memory` is where the registered
  // tensors live (host or this agent's GPU).
  TaskRunner(TensorRegistry* tensors, GroupTable* groups, Transport* transport, MemoryOps* memory);
  ~TaskRunner();

  // Which group members are this agent's endpoints: those at this address. Call
  // once, before the agent registers.
  void set_self_address(std::string address) { self_address_ = std::move(address); }
  // Where the bytes of each stage are recorded; optional, set once before the
  // agent registers.
  void set_metrics(AgentMetrics* metrics) { metrics_ = metrics; }

  // Runs `request`. Blocks until every task finished, one failed (then the
  // others of this sync are aborted), or `deadline` passed. Errors name the task,
  // group, endpoint and tensor.
  absl::StatusOr<v1::RunTasksResponse> Run(const v1::RunTasksRequest& request, absl::Time deadline);

  // Same, running `work` (stored earlier for the request's plan) instead of the
  // request's own tasks.
  absl::StatusOr<v1::RunTasksResponse> Run(const v1::RunTasksRequest& request,
                                           const v1::AgentTasks& work, absl::Time deadline);

 private:
  std::string self_address_;  // Set once, before the agent registers.
  TensorRegistry* const tensors_;
  GroupTable* const groups_;
  Transport* const transport_;
  MemoryOps* const memory_;
  AgentMetrics* metrics_ = nullptr;
  const std::unique_ptr<ResolvedTaskCache> resolved_;  // Defined in the .cc.
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TASKS_TASK_RUNNER_H_
