// File: agent/tensors/ipc_mapper.h
// -----------------------------------------------------------------------------
// Opens GPU allocations that framework processes share by CUDA IPC handle, so
// the TensorRegistry can hold GPU tensors without depending on CUDA itself (the
// implementation is agent/gpu/cuda_ipc_mapper.h).
#ifndef PARAMSYNC_AGENT_TENSORS_IPC_MAPPER_H_
#define PARAMSYNC_AGENT_TENSORS_IPC_MAPPER_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace paramsync::agent {

// An allocation of another process, mapped into this one.
struct MappedAllocation {
  char* base = nullptr;
  size_t size = 0;
};

class IpcMapper {
 public:
  virtual ~IpcMapper() = default;
  // Maps the allocation `handle` names (once: later calls with the same handle
  // return the same mapping, which stays open while the mapper lives).
  // INVALID_ARGUMENT for a malformed handle; FAILED_PRECONDITION when CUDA
  // refuses it (another device's memory, an expandable segment, ...), with what
  // to change in the message.
  virtual absl::StatusOr<MappedAllocation> Open(const std::string& handle) = 0;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TENSORS_IPC_MAPPER_H_
