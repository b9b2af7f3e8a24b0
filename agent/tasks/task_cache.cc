#include "agent/tasks/task_cache.h"

#include "absl/strings/str_cat.h"

namespace paramsync::agent {

void TaskCache::Store(uint64_t plan_id, Tasks tasks) {
  auto stored = std::make_shared<const Tasks>(std::move(tasks));
  absl::MutexLock lock(&mu_);
  for (auto& [id, plan] : plans_) {
    if (id == plan_id) {
      plan = std::move(stored);
      return;
    }
  }
  plans_.emplace_back(plan_id, std::move(stored));
  if (plans_.size() > kMaxPlans) plans_.pop_front();
}

absl::StatusOr<std::shared_ptr<const TaskCache::Tasks>> TaskCache::Find(uint64_t plan_id) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, plan] : plans_) {
    if (id == plan_id) return plan;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("this agent holds no tasks of plan ", plan_id,
                   " (it restarted or evicted them); the "
                   "coordinator sets the plan up again on the next sync"));
}

}  // namespace paramsync::agent
