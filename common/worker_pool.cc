#include "common/worker_pool.h"

#include "absl/synchronization/blocking_counter.h"

namespace paramsync {

WorkerPool::~WorkerPool() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (std::thread& thread : threads) thread.join();
}

size_t WorkerPool::threads() const {
  absl::MutexLock lock(&mu_);
  return threads_.size();
}

void WorkerPool::Loop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    ++idle_;
    mu_.Await(absl::Condition(
        +[](WorkerPool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
          return pool->stopping_ || !pool->queue_.empty();
        },
        this));
    if (queue_.empty()) return;  // Stopping.
    // Whoever queued this closure already took this worker off idle_.
    std::function<void()> work = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    work();
    mu_.Lock();
  }
}

void WorkerPool::Run(int count, const std::function<void(int)>& work) {
  if (count <= 0) return;
  absl::BlockingCounter done(count - 1);
  {
    absl::MutexLock lock(&mu_);
    for (int i = 1; i < count; ++i) {
      auto item = [&work, &done, i] {
        work(i);
        done.DecrementCount();
      };
      if (idle_ > 0) {
        --idle_;
        queue_.push_back(std::move(item));
      } else {
        threads_.emplace_back([this, item] {
          item();
          Loop();
        });
      }
    }
  }
  work(0);
  done.Wait();
}

}  // namespace paramsync
