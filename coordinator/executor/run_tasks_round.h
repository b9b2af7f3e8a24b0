// File: coordinator/executor/run_tasks_round.h
// -----------------------------------------------------------------------------
// The RunTasks calls of one Transfer, started together and awaited by the
// thread that started them.
//
// Every call completes on the round's gRPC completion queue, which Next()
// polls on the awaiting thread itself. No other thread has to wake up to hand
// an answer over: on the GPU hosts measured (KVM guests), each wake-up of an
// idle thread cost about 0.1 ms, which made up most of a small sync's control
// plane when the calls ran on pool threads. For the same reason Next() polls
// without sleeping while an answer is due soon: through the first `spin` of the
// round (a small sync's whole transfer) and for `spin` after each answer (the
// other agents of a sync finish within a fraction of a millisecond of each
// other). The CPU that costs is one core for those windows only.
//
// Clients with a gRPC stub start their calls on queue() (AgentClientInterface::
// StartRunTasks); others (test fakes) run a blocking call on a thread of the
// round (StartOnThread), whose answer reaches the queue through an alarm.
// Not thread-safe: one thread starts the calls and awaits them.
#ifndef PARAMSYNC_COORDINATOR_EXECUTOR_RUN_TASKS_ROUND_H_
#define PARAMSYNC_COORDINATOR_EXECUTOR_RUN_TASKS_ROUND_H_

#include <grpcpp/completion_queue.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::coordinator {

class RunTasksRound {
 public:
  // A call in flight, reported done by the queue with the tag Start() gave it.
  class Call {
   public:
    virtual ~Call() = default;
    // Its answer, asked once, on the round's thread, after the queue reported it.
    virtual absl::StatusOr<v1::RunTasksResponse> Finish() = 0;
  };

  struct Answer {
    size_t index;  // As the call was started.
    absl::StatusOr<v1::RunTasksResponse> result;
  };

  explicit RunTasksRound(absl::Duration spin);
  // Waits for the calls still in flight: cancel them first (through their
  // clients) if they must not run on.
  ~RunTasksRound();
  RunTasksRound(const RunTasksRound&) = delete;
  RunTasksRound& operator=(const RunTasksRound&) = delete;

  // Where gRPC calls of the round complete.
  grpc::CompletionQueue* queue() { return &queue_; }

  // Takes `call`, answer `index` of the round; returns the tag that its
  // completion must carry on queue().
  void* Start(size_t index, std::unique_ptr<Call> call);

  // Runs `blocking` on a new thread; its result is answer `index`.
  void StartOnThread(size_t index, std::function<absl::StatusOr<v1::RunTasksResponse>()> blocking);

  // Calls started and not yet answered by Next().
  size_t outstanding() const { return outstanding_; }

  // The next answer, in the order they complete; nullopt once `until` passed
  // or when none is outstanding.
  std::optional<Answer> Next(absl::Time until);

 private:
  class ThreadCall;
  struct Started {  // A call's tag points at its entry.
    std::unique_ptr<Call> call;
    size_t index;
  };

  grpc::CompletionQueue queue_;
  const absl::Duration spin_;
  absl::Time spin_until_;  // Next() polls without sleeping until then.
  std::vector<std::unique_ptr<Started>> started_;
  size_t outstanding_ = 0;
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_EXECUTOR_RUN_TASKS_ROUND_H_
