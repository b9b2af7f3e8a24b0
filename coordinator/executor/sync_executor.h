// File: coordinator/executor/sync_executor.h
// -----------------------------------------------------------------------------
// Runs a TransferPlan on the agents, in named phases:
//   1. prepare: SetupGroups on every agent involved, in parallel;
//   2. transfer: RunTasks on every agent, in parallel; the first failure aborts
//      the sync on every agent, so none waits for its deadline;
//   3. commit: only when every agent succeeded, its inference endpoints are told
//      the new version. A failed sync never commits.
//   4. optionally, free: every agent destroys the sync's collective groups.
#ifndef PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_EXECUTOR_H_
#define PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_EXECUTOR_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/executor/agent_client.h"
#include "coordinator/sync/transfer_plan_builder.h"

namespace paramsync::coordinator {

struct SyncOutcome {
  std::vector<double> stage_ms;  // Slowest agent per stage; index 0 is stage 1.
  int64_t bytes_received = 0;
  int64_t tensors_received = 0;
};

class SyncExecutor {
 public:
  explicit SyncExecutor(AgentClientPool* agents) : agents_(agents) {}

  // Runs `plan` as sync `sync_id` producing `version`. Errors name the agent and
  // the phase; the first error of the transfer phase is returned.
  absl::StatusOr<SyncOutcome> Execute(const TransferPlan& plan, uint64_t sync_id, int64_t version,
                                      bool free_groups, absl::Time deadline);

  // Makes running and later Execute() calls fail with UNAVAILABLE.
  void Shutdown();

 private:
  AgentClientPool* const agents_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_EXECUTOR_H_
