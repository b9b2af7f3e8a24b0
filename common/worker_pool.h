// File: common/worker_pool.h
// -----------------------------------------------------------------------------
// Threads kept to run closures, for fan-outs on a latency-critical path (one
// blocking RPC per agent, every sync): starting a thread per call costs tens of
// microseconds each, a visible share of a millisecond-scale sync. Every closure
// of a Run() gets a thread of its own at once (an idle one, else a new one that
// then stays), because the RPCs of one sync may wait for each other. The
// destructor joins; Run() must not be called concurrently with it.
#ifndef PARAMSYNC_COMMON_WORKER_POOL_H_
#define PARAMSYNC_COMMON_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace paramsync {

class WorkerPool {
 public:
  WorkerPool() = default;
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `work(0)` .. `work(count - 1)` at the same time, the first on the
  // calling thread; returns when all finished.
  void Run(int count, const std::function<void(int)>& work);

  size_t threads() const;

 private:
  void Loop();

  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  int idle_ ABSL_GUARDED_BY(mu_) = 0;  // Waiting workers not promised a queued closure.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_WORKER_POOL_H_
