#include "agent/gpu/cuda_memory_ops.h"

#include "absl/strings/str_cat.h"
#include "agent/transport/nccl/nccl_status.h"

namespace paramsync::agent {

absl::StatusOr<std::unique_ptr<CudaMemoryOps>> CudaMemoryOps::Create(int device) {
  absl::Status status = CudaToStatus(cudaSetDevice(device), absl::StrCat("CUDA device ", device));
  if (!status.ok()) return status;
  cudaStream_t stream = nullptr;
  status =
      CudaToStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  if (!status.ok()) return status;
  return std::unique_ptr<CudaMemoryOps>(new CudaMemoryOps(device, stream));
}

CudaMemoryOps::~CudaMemoryOps() {
  cudaSetDevice(device_);
  cudaStreamDestroy(stream_);
}

absl::StatusOr<std::unique_ptr<StagingBuffer>> CudaMemoryOps::Allocate(size_t bytes) {
  cudaSetDevice(device_);
  void* data = nullptr;
  if (cudaMalloc(&data, bytes == 0 ? 1 : bytes) != cudaSuccess) {
    cudaGetLastError();  // cudaMalloc's failure is not sticky; clear it.
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a ", bytes, "-byte staging buffer on ", name_));
  }
  const int device = device_;
  return std::make_unique<StagingBuffer>(data, bytes, [device](void* p) {
    cudaSetDevice(device);
    cudaFree(p);
  });
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

absl::Status CudaMemoryOps::CopySlice(const SliceSpec& spec, const void* whole, void* slice,
                                      size_t slice_bytes) {
  size_t expected = 0;
  absl::Status valid = ValidateSlice(spec, &expected);
  if (!valid.ok()) return valid;
  if (expected != slice_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("slice needs ", expected, " bytes, destination holds ", slice_bytes));
  }
  size_t outer = 1;
  for (int d = 0; d < spec.dim; ++d) outer *= static_cast<size_t>(spec.shape[d]);
  size_t inner_bytes = static_cast<size_t>(spec.element_size);
  for (size_t d = spec.dim + 1; d < spec.shape.size(); ++d) {
    inner_bytes *= static_cast<size_t>(spec.shape[d]);
  }
  const size_t row = static_cast<size_t>(spec.shape[spec.dim]) * inner_bytes;
  const size_t run = row / spec.num_slices;
  absl::MutexLock lock(&mu_);
  cudaSetDevice(device_);
  absl::Status status =
      CudaToStatus(cudaMemcpy2DAsync(slice, run, static_cast<const char*>(whole) + spec.index * run,
                                     row, run, outer, cudaMemcpyDeviceToDevice, stream_),
                   "cudaMemcpy2DAsync");
  if (!status.ok()) return status;
  return Finish("slice copy");
}

}  // namespace paramsync::agent
