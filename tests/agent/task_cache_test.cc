#include "agent/tasks/task_cache.h"

#include <catch2/catch.hpp>

namespace paramsync::agent {
namespace {

TaskCache::Tasks TasksWithId(uint64_t task_id) {
  TaskCache::Tasks tasks;
  tasks.add_transfers()->set_task_id(task_id);
  tasks.add_regroups()->set_task_id(task_id + 1);
  return tasks;
}

TEST_CASE("Plans are found by id, replaced by a later store, and the oldest evicted",
          "[task_cache]") {
  TaskCache cache;
  cache.Store(7, TasksWithId(1));
  absl::StatusOr<std::shared_ptr<const TaskCache::Tasks>> found = cache.Find(7);
  REQUIRE(found.ok());
  CHECK((*found)->transfers(0).task_id() == 1);
  CHECK((*found)->regroups(0).task_id() == 2);
  cache.Store(7, TasksWithId(2));
  CHECK((*cache.Find(7))->transfers(0).task_id() == 2);
  // A plan in use stays valid for its holder even after eviction.
  std::shared_ptr<const TaskCache::Tasks> held = *cache.Find(7);
  for (uint64_t id = 100; id < 100 + TaskCache::kMaxPlans; ++id) cache.Store(id, TasksWithId(id));
  absl::StatusOr<std::shared_ptr<const TaskCache::Tasks>> evicted = cache.Find(7);
  CHECK(evicted.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(held->transfers(0).task_id() == 2);
  CHECK(cache.Find(100 + TaskCache::kMaxPlans - 1).ok());
}

}  // namespace
}  // namespace paramsync::agent
