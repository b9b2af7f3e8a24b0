// File: agent/gpu/cuda_ipc_mapper.h
// -----------------------------------------------------------------------------
// IpcMapper over cudaIpcOpenMemHandle, on this agent's device. Mappings are
// cached by handle (frameworks share one handle per allocation, and many tensors
// live in one allocation) and closed when the mapper is destroyed.
#ifndef PARAMSYNC_AGENT_GPU_CUDA_IPC_MAPPER_H_
#define PARAMSYNC_AGENT_GPU_CUDA_IPC_MAPPER_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/tensors/ipc_mapper.h"

namespace paramsync::agent {

class CudaIpcMapper final : public IpcMapper {
 public:
  explicit CudaIpcMapper(int device) : device_(device) {}
  ~CudaIpcMapper() override;

  absl::StatusOr<MappedAllocation> Open(const std::string& handle) override;

 private:
  const int device_;
  absl::Mutex mu_;
  std::map<std::string, MappedAllocation> mappings_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_GPU_CUDA_IPC_MAPPER_H_
