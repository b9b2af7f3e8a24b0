#include "agent/transport/nccl/cuda_stream.h"

#include "absl/strings/str_cat.h"
#include "agent/transport/nccl/nccl_status.h"

namespace paramsync::agent {

absl::StatusOr<cudaStream_t> CreateAgentStream(int device) {
  absl::Status status = CudaToStatus(cudaSetDevice(device), absl::StrCat("CUDA device ", device));
  if (!status.ok()) return status;
  cudaStream_t stream = nullptr;
  status =
      CudaToStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  if (!status.ok()) return status;
  return stream;
}

}  // namespace paramsync::agent
