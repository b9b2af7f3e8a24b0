#include "coordinator/executor/run_tasks_round.h"

#include <grpc/support/time.h>
#include <grpcpp/alarm.h>

#include <algorithm>
#include <thread>
#include <utility>

namespace paramsync::coordinator {
namespace {

gpr_timespec ToGprTime(absl::Time time) {
  if (time == absl::InfiniteFuture()) return gpr_inf_future(GPR_CLOCK_REALTIME);
  const timespec spec = absl::ToTimespec(time);
  gpr_timespec deadline;
  deadline.tv_sec = spec.tv_sec;
  deadline.tv_nsec = static_cast<int32_t>(spec.tv_nsec);
  deadline.clock_type = GPR_CLOCK_REALTIME;
  return deadline;
}

}  // namespace

// A blocking call on its own thread, which an alarm reports to the queue once
// the call returned.
class RunTasksRound::ThreadCall final : public Call {
 public:
  explicit ThreadCall(std::function<absl::StatusOr<v1::RunTasksResponse>()> blocking)
      : blocking_(std::move(blocking)) {}
  ~ThreadCall() override {
    if (thread_.joinable()) thread_.join();
  }

  void Run(grpc::CompletionQueue* queue, void* tag) {
    thread_ = std::thread([this, queue, tag] {
      result_ = blocking_();
      done_.Set(queue, gpr_now(GPR_CLOCK_MONOTONIC), tag);
    });
  }

  absl::StatusOr<v1::RunTasksResponse> Finish() override {
    thread_.join();
    return std::move(result_);
  }

 private:
  const std::function<absl::StatusOr<v1::RunTasksResponse>()> blocking_;
  absl::StatusOr<v1::RunTasksResponse> result_;
  grpc::Alarm done_;
  std::thread thread_;
};

RunTasksRound::RunTasksRound(absl::Duration spin) : spin_(spin), spin_until_(absl::Now() + spin) {}

RunTasksRound::~RunTasksRound() {
  while (Next(absl::InfiniteFuture()).has_value()) {
  }
  queue_.Shutdown();
  void* tag;
  bool ok;
  while (queue_.Next(&tag, &ok)) {
  }
}

void* RunTasksRound::Start(size_t index, std::unique_ptr<Call> call) {
  started_.push_back(std::make_unique<Started>(Started{std::move(call), index}));
  ++outstanding_;
  return started_.back().get();
}

void RunTasksRound::StartOnThread(size_t index,
                                  std::function<absl::StatusOr<v1::RunTasksResponse>()> blocking) {
  auto call = std::make_unique<ThreadCall>(std::move(blocking));
  ThreadCall* started = call.get();
  started->Run(&queue_, Start(index, std::move(call)));
}

std::optional<RunTasksRound::Answer> RunTasksRound::Next(absl::Time until) {
  while (outstanding_ > 0) {
    const absl::Time now = absl::Now();
    if (now >= until) return std::nullopt;
    // While spinning, each pass only polls (a deadline that has passed).
    const absl::Time wait_until = now < spin_until_ ? now : until;
    void* tag;
    bool ok;
    if (queue_.AsyncNext(&tag, &ok, ToGprTime(wait_until)) != grpc::CompletionQueue::GOT_EVENT) {
      continue;  // TIMEOUT: the queue shuts down only in the destructor, with nothing in flight.
    }
    --outstanding_;
    spin_until_ = std::max(spin_until_, absl::Now() + spin_);
    Started* started = static_cast<Started*>(tag);
    return Answer{started->index, started->call->Finish()};
  }
  return std::nullopt;
}

}  // namespace paramsync::coordinator
