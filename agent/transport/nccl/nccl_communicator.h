// File: agent/transport/nccl/nccl_communicator.h
// -----------------------------------------------------------------------------
// One NCCL communicator with an explicit lifecycle and bounded waits:
// initialization is non-blocking and polled against a deadline; every wait for
// queued work polls ncclCommGetAsyncError; a timeout or an error aborts the
// communicator (ncclCommAbort also stops its device work), after which every
// call fails at once. The destructor finalizes a healthy communicator and aborts
// any other.
//
// Not thread-safe: the transport serializes operations on one communicator.
#ifndef PARAMSYNC_AGENT_TRANSPORT_NCCL_NCCL_COMMUNICATOR_H_
#define PARAMSYNC_AGENT_TRANSPORT_NCCL_NCCL_COMMUNICATOR_H_

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace paramsync::agent {

class NcclCommunicator {
 public:
  enum class State { kInitializing, kReady, kAborted };

  // Starts joining communicator `name` as `rank` of `nranks` on CUDA device
  // `device`. Returns at once; call WaitReady() before use.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Start(const std::string& name,
                                                                 int device, int nranks, int rank,
                                                                 const ncclUniqueId& id);
  ~NcclCommunicator();

  // Blocks until every rank joined, init failed, or `deadline` (then aborts:
  // DEADLINE_EXCEEDED names the communicator).
  absl::Status WaitReady(absl::Time deadline);

  // Blocks until `stream` finished its queued work, the communicator reported an
  // error, or `deadline`; aborts on error or timeout.
  absl::Status WaitStream(cudaStream_t stream, absl::Time deadline);

  // Result of an enqueue call (ncclBroadcast, ncclGroupEnd...): ncclInProgress
  // is success for a non-blocking communicator.
  absl::Status CheckEnqueue(ncclResult_t result, const char* what);

  void Abort();

  ncclComm_t comm() const { return comm_; }
  State state() const { return state_; }
  const std::string& name() const { return name_; }
  int device() const { return device_; }

 private:
  NcclCommunicator(std::string name, int device) : name_(std::move(name)), device_(device) {}
  // Polls ncclCommGetAsyncError until it is not ncclInProgress or `deadline`.
  absl::Status PollAsync(absl::Time deadline, const char* what);

  const std::string name_;
  const int device_;
  ncclComm_t comm_ = nullptr;
  State state_ = State::kInitializing;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TRANSPORT_NCCL_NCCL_COMMUNICATOR_H_
