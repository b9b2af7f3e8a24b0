// File: agent/tasks/task_cache.h
// -----------------------------------------------------------------------------
// The task lists of the plans this agent runs, kept from SetupGroups so that a
// sync's RunTasks names its plan instead of carrying every tensor again: the
// per-sync control messages stay small however many tensors a model has.
// Bounded: the oldest plans are dropped first. Thread-safe.
#ifndef PARAMSYNC_AGENT_TASKS_TASK_CACHE_H_
#define PARAMSYNC_AGENT_TASKS_TASK_CACHE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "agent/tasks/plan_cache.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::agent {

class TaskCache {
 public:
  using Tasks = v1::AgentTasks;
  static constexpr size_t kMaxPlans = 64;

  void Store(uint64_t plan_id, Tasks tasks);

  // FAILED_PRECONDITION when the plan is not (or no longer) here.
  absl::StatusOr<std::shared_ptr<const Tasks>> Find(uint64_t plan_id) const;

 private:
  PlanCache<Tasks> plans_{kMaxPlans};
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TASKS_TASK_CACHE_H_
