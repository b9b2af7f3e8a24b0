#include "agent/transport/nccl/nccl_communicator.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/transport/nccl/nccl_status.h"

namespace paramsync::agent {
namespace {

// Bounded waits poll. The first kSpinTime of a wait only yields between polls,
// so that a transfer's end is seen within microseconds (a sleep overshoots by
// the timer slack, 50 us or more, a visible share of a small sync; the agent's
// core is otherwise idle while its transfers run); longer waits sleep
// kPollInterval, short against their own length and long enough not to burn a
// core through a long transfer.
constexpr absl::Duration kSpinTime = absl::Milliseconds(5);
constexpr absl::Duration kPollInterval = absl::Microseconds(50);
constexpr absl::Duration kFinalizeTimeout = absl::Seconds(5);

// Waits before the next poll of a wait that started at `start`.
void Pause(absl::Time start) {
  if (absl::Now() - start < kSpinTime) {
    std::this_thread::yield();
  } else {
    absl::SleepFor(kPollInterval);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Start(const std::string& name,
                                                                          int device, int nranks,
                                                                          int rank,
                                                                          const ncclUniqueId& id) {
  absl::Status status =
      CudaToStatus(cudaSetDevice(device), absl::StrCat("cudaSetDevice(", device, ")"));
  if (!status.ok()) return status;
  std::unique_ptr<NcclCommunicator> communicator(new NcclCommunicator(name, device));
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  config.commName = communicator->name_.c_str();
  const ncclResult_t result =
      ncclCommInitRankConfig(&communicator->comm_, nranks, id, rank, &config);
  if (result != ncclSuccess && result != ncclInProgress) {
    communicator->Abort();
    return NcclToStatus(result, absl::StrCat("ncclCommInitRankConfig of ", name));
  }
  return communicator;
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr) return;
  if (state_ == State::kReady) {
    cudaSetDevice(device_);
    // Finalize flushes queued work and may itself run asynchronously: bounded
    // like every other wait; PollAsync aborts when it fails or times out.
    const ncclResult_t finalized = ncclCommFinalize(comm_);
    if ((finalized == ncclSuccess || finalized == ncclInProgress) &&
        PollAsync(absl::Now() + kFinalizeTimeout, "finalize").ok()) {
      ncclCommDestroy(comm_);
      comm_ = nullptr;
      return;
    }
  }
  Abort();
}

absl::Status NcclCommunicator::PollAsync(absl::Time deadline, const char* what) {
  while (true) {
    ncclResult_t async = ncclSuccess;
    const ncclResult_t result = ncclCommGetAsyncError(comm_, &async);
    if (result != ncclSuccess) {
      Abort();
      return NcclToStatus(result, absl::StrCat(what, " on ", name_));
    }
    if (async == ncclSuccess) return absl::OkStatus();
    if (async != ncclInProgress) {
      Abort();
      return NcclToStatus(async, absl::StrCat(what, " on ", name_));
    }
    if (absl::Now() >= deadline) {
      Abort();
      return absl::DeadlineExceededError(
          absl::StrCat(what, " on communicator ", name_, " did not finish by its deadline"));
    }
    absl::SleepFor(kPollInterval);
  }
}

absl::Status NcclCommunicator::WaitReady(absl::Time deadline) {
  if (state_ == State::kAborted) {
    return absl::AbortedError(absl::StrCat("communicator ", name_, " was aborted"));
  }
  if (state_ == State::kReady) return absl::OkStatus();
  absl::Status status = PollAsync(deadline, "communicator init");
  if (status.ok()) state_ = State::kReady;
  return status;
}

absl::Status NcclCommunicator::CheckEnqueue(ncclResult_t result, const char* what) {
  if (result == ncclSuccess || result == ncclInProgress) return absl::OkStatus();
  Abort();
  return NcclToStatus(result, absl::StrCat(what, " on ", name_));
}

absl::Status NcclCommunicator::WaitStream(cudaStream_t stream, absl::Time deadline) {
  if (state_ != State::kReady) {
    return absl::FailedPreconditionError(absl::StrCat("communicator ", name_, " is not ready"));
  }
  const absl::Time start = absl::Now();
  while (true) {
    // A non-blocking communicator may still be enqueuing the work (the async
    // state is ncclInProgress): only after that does the stream tell completion.
    ncclResult_t async = ncclSuccess;
    const ncclResult_t result = ncclCommGetAsyncError(comm_, &async);
    if (result != ncclSuccess || (async != ncclSuccess && async != ncclInProgress)) {
      Abort();
      return NcclToStatus(result != ncclSuccess ? result : async,
                          absl::StrCat("transfer on ", name_));
    }
    if (async == ncclSuccess) {
      const cudaError_t query = cudaStreamQuery(stream);
      if (query == cudaSuccess) return absl::OkStatus();
      if (query != cudaErrorNotReady) {
        Abort();
        return CudaToStatus(query, absl::StrCat("stream of ", name_));
      }
    }
    if (absl::Now() >= deadline) {
      Abort();
      return absl::DeadlineExceededError(
          absl::StrCat("transfer on communicator ", name_, " did not finish by its deadline"));
    }
    Pause(start);
  }
}

void NcclCommunicator::Abort() {
  if (comm_ != nullptr) {
    cudaSetDevice(device_);
    ncclCommAbort(comm_);
    comm_ = nullptr;
  }
  state_ = State::kAborted;
}

}  // namespace paramsync::agent
