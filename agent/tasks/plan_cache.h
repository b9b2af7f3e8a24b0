// File: agent/tasks/plan_cache.h
// -----------------------------------------------------------------------------
// What an agent keeps per plan (ids the coordinator gives its plans) so that
// later syncs of the plan name it instead of resending it: the tasks of
// SetupGroups (task_cache.h), the regions of a validated sync (digest_runner.h).
// Bounded: beyond `capacity` plans the oldest is dropped first. Thread-safe.
#ifndef PARAMSYNC_AGENT_TASKS_PLAN_CACHE_H_
#define PARAMSYNC_AGENT_TASKS_PLAN_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace paramsync::agent {

template <typename T>
class PlanCache {
 public:
  explicit PlanCache(size_t capacity) : capacity_(capacity) {}

  // Replaces what `plan_id` held, if anything.
  void Store(uint64_t plan_id, std::shared_ptr<const T> value) {
    absl::MutexLock lock(&mu_);
    for (auto& [id, kept] : plans_) {
      if (id == plan_id) {
        kept = std::move(value);
        return;
      }
    }
    plans_.emplace_back(plan_id, std::move(value));
    if (plans_.size() > capacity_) plans_.pop_front();
  }

  // Null when the plan is not (or no longer) here.
  std::shared_ptr<const T> Find(uint64_t plan_id) const {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, kept] : plans_) {
      if (id == plan_id) return kept;
    }
    return nullptr;
  }

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<std::pair<uint64_t, std::shared_ptr<const T>>> plans_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TASKS_PLAN_CACHE_H_
