#include "agent/tasks/task_cache.h"

#include "absl/strings/str_cat.h"

namespace paramsync::agent {

void TaskCache::Store(uint64_t plan_id, Tasks tasks) {
  plans_.Store(plan_id, std::make_shared<const Tasks>(std::move(tasks)));
}

absl::StatusOr<std::shared_ptr<const TaskCache::Tasks>> TaskCache::Find(uint64_t plan_id) const {
  if (std::shared_ptr<const Tasks> tasks = plans_.Find(plan_id)) return tasks;
  return absl::FailedPreconditionError(
      absl::StrCat("this agent holds no tasks of plan ", plan_id,
                   " (it restarted or evicted them); the "
                   "coordinator sets the plan up again on the next sync"));
}

}  // namespace paramsync::agent
