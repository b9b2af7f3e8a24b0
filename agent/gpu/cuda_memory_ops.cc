#include "agent/gpu/cuda_memory_ops.h"

#include "absl/strings/str_cat.h"
#include "agent/transport/nccl/cuda_stream.h"
#include "agent/transport/nccl/nccl_status.h"

namespace paramsync::agent {

absl::StatusOr<std::unique_ptr<CudaMemoryOps>> CudaMemoryOps::Create(int device) {
  absl::StatusOr<cudaStream_t> stream = CreateAgentStream(device);
  if (!stream.ok()) return stream.status();
  return std::unique_ptr<CudaMemoryOps>(new CudaMemoryOps(device, *stream));
}

CudaMemoryOps::~CudaMemoryOps() {
  cudaSetDevice(device_);
  cudaStreamDestroy(stream_);
}

absl::StatusOr<void*> CudaMemoryOps::AllocateRaw(size_t bytes) {
  cudaSetDevice(device_);
  void* data = nullptr;
  if (cudaMalloc(&data, bytes == 0 ? 1 : bytes) != cudaSuccess) {
    cudaGetLastError();  // cudaMalloc's failure is not sticky; clear it.
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a ", bytes, "-byte staging buffer on ", name_));
  }
  return data;
}

void CudaMemoryOps::Free(void* data) {
  cudaSetDevice(device_);
  cudaFree(data);
}

absl::Status CudaMemoryOps::Finish(const char* what) {
  return CudaToStatus(cudaStreamSynchronize(stream_), absl::StrCat(what, " on ", name_));
}

absl::Status CudaMemoryOps::Copy(void* dst, const void* src, size_t bytes) {
  absl::MutexLock lock(&mu_);
  cudaSetDevice(device_);
  absl::Status status =
      CudaToStatus(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream_), "cudaMemcpyAsync");
  if (!status.ok()) return status;
  return Finish("copy");
}

absl::Status CudaMemoryOps::CopyBlocks(absl::Span<const BoxCopyBlock> blocks, const void* src,
                                       void* dst) {
  absl::MutexLock lock(&mu_);
  cudaSetDevice(device_);
  for (const BoxCopyBlock& b : blocks) {
    absl::Status status =
        CudaToStatus(cudaMemcpy2DAsync(static_cast<char*>(dst) + b.dst_offset, b.dst_pitch,
                                       static_cast<const char*>(src) + b.src_offset, b.src_pitch,
                                       b.run_bytes, b.rows, cudaMemcpyDeviceToDevice, stream_),
                     "cudaMemcpy2DAsync");
    if (!status.ok()) return status;
  }
  return Finish("copy");
}

}  // namespace paramsync::agent
