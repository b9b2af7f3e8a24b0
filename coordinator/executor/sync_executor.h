// File: coordinator/executor/sync_executor.h
// -----------------------------------------------------------------------------
// Runs a TransferPlan on the agents, one named phase per method, each calling
// every agent involved in parallel with a deadline:
//   AssignGroupIds: once per plan, GPU groups get an NCCL unique id from the
//             agent of their first member (kept with the plan, so agents reuse
//             their communicators across syncs);
//   Prepare:  SetupGroups (create or confirm the collective groups);
//   Transfer: RunTasks; the first failure aborts the sync on every agent, so
//             none waits for its deadline. With `empty_tasks` every task runs
//             without tensors (warm-up: connections and communicators are
//             exercised, no byte of a tensor moves);
//   Commit:   only after a successful Transfer: inference endpoints are told
//             the version they now hold. A failed sync never commits;
//   Free:     destroy the plan's collective groups on every agent.
// After Shutdown() every phase fails with UNAVAILABLE, including calls in flight.
#ifndef PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_EXECUTOR_H_
#define PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_EXECUTOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/worker_pool.h"
#include "coordinator/executor/agent_client.h"
#include "coordinator/sync/transfer_plan_builder.h"

namespace paramsync::coordinator {

struct SyncOutcome {
  std::vector<double> stage_ms;  // Slowest agent per stage; index 0 is stage 1.
  int64_t bytes_received = 0;
  int64_t tensors_received = 0;
  double regroup_ms = 0;           // Slowest agent's regroups.
  int64_t peak_staging_bytes = 0;  // Largest agent peak.
};

class SyncExecutor {
 public:
  explicit SyncExecutor(AgentClientPool* agents) : agents_(agents) {}

  // Errors name the agent and the phase.
  absl::Status AssignGroupIds(TransferPlan& plan, absl::Time deadline);
  absl::Status Prepare(const TransferPlan& plan, absl::Time deadline);
  absl::StatusOr<SyncOutcome> Transfer(const TransferPlan& plan, uint64_t sync_id, int64_t version,
                                       bool empty_tasks, absl::Time deadline);
  absl::Status Commit(const TransferPlan& plan, uint64_t sync_id, int64_t version);
  // Best effort: a failure only costs memory, and is logged.
  void Free(const TransferPlan& plan);

  void Shutdown();

 private:
  // Runs `call` for every agent of `plan` at once; returns the first error, or
  // UNAVAILABLE once shutting down.
  absl::Status ForEachAgent(const TransferPlan& plan,
                            const std::function<absl::Status(const AgentWork&)>& call);
  void AbortAll(const TransferPlan& plan, uint64_t sync_id, const absl::Status& cause);

  AgentClientPool* const agents_;
  std::atomic<bool> shutting_down_{false};
  WorkerPool workers_;
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_EXECUTOR_H_
