#include "common/worker_pool.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "absl/time/clock.h"

namespace paramsync {
namespace {

TEST_CASE("Every closure of a run gets its own thread at once, and threads are kept",
          "[worker_pool]") {
  WorkerPool pool;
  for (int round = 0; round < 3; ++round) {
    // Each closure waits for all the others: only works if all run at once.
    const int count = 8;
    absl::Barrier* barrier = new absl::Barrier(count);
    std::vector<int> ran(count, 0);
    pool.Run(count, [&](int i) {
      if (barrier->Block()) delete barrier;
      ran[i] = 1;
    });
    CHECK(ran == std::vector<int>(count, 1));
    // Let the helpers go back to waiting before the next round.
    absl::SleepFor(absl::Milliseconds(50));
  }
  // The 7 helper threads of the first round served the others.
  CHECK(pool.threads() == 7);
}

TEST_CASE("Runs from several threads share the workers and all complete", "[worker_pool]") {
  WorkerPool pool;
  std::atomic<int> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int round = 0; round < 50; ++round) pool.Run(5, [&](int) { ++total; });
    });
  }
  for (std::thread& t : callers) t.join();
  CHECK(total == 4 * 50 * 5);
}

}  // namespace
}  // namespace paramsync
