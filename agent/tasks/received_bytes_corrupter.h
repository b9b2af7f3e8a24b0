// File: agent/tasks/received_bytes_corrupter.h
// -----------------------------------------------------------------------------
// Testing only (paramsync-agent --debug_corrupt_received_bytes_for_test=NAME):
// after every RunTasks that succeeded on this agent, the first bytes of tensor
// NAME of each inference endpoint here are overwritten, as if they had been
// damaged on the way. Tests use it to show that a validated sync then fails
// closed, naming exactly that tensor, and that an unvalidated one would not
// notice.
#ifndef PARAMSYNC_AGENT_TASKS_RECEIVED_BYTES_CORRUPTER_H_
#define PARAMSYNC_AGENT_TASKS_RECEIVED_BYTES_CORRUPTER_H_

#include <string>

#include "absl/status/status.h"
#include "agent/memory/memory_ops.h"
#include "agent/tensors/tensor_registry.h"

namespace paramsync::agent {

class ReceivedBytesCorrupter {
 public:
  // The pointers must outlive the corrupter.
  ReceivedBytesCorrupter(const TensorRegistry* tensors, MemoryOps* memory, std::string tensor)
      : tensors_(tensors), memory_(memory), tensor_(std::move(tensor)) {}

  // Overwrites the first 8 bytes (or fewer, for a smaller tensor) of the
  // tensor in every inference endpoint on this agent that has one, with a
  // fixed pattern (which random weights match with probability 2^-64).
  absl::Status Corrupt() const;

 private:
  const TensorRegistry* const tensors_;
  MemoryOps* const memory_;
  const std::string tensor_;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TASKS_RECEIVED_BYTES_CORRUPTER_H_
