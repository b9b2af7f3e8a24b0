#include "agent/gpu/cuda_memory_ops.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/gpu/digest_kernel.h"
#include "agent/gpu/lora_merge_kernel.h"
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

absl::Status CudaMemoryOps::DigestBlocks(absl::Span<const PlannedDigest> planned,
                                         absl::Span<uint64_t> digests) {
  std::vector<DigestKernelBlock> blocks;
  uint64_t chunks = 0;
  for (size_t i = 0; i < planned.size(); ++i) {
    const PlannedDigest& p = planned[i];
    const bool aligned = reinterpret_cast<uintptr_t>(p.data) % p.element_size == 0;
    for (const DigestBlock& b : p.blocks) {
      blocks.push_back({p.data, b.offset, b.first_index, b.rows, b.run, b.pitch, b.index_pitch,
                        chunks, static_cast<uint32_t>(p.element_size), aligned ? 1u : 0u, i});
      chunks += DigestChunks(b.rows, b.run);
    }
  }
  if (chunks == 0) return absl::OkStatus();  // Empty regions digest to 0.
  absl::MutexLock lock(&mu_);
  cudaSetDevice(device_);
  // One stream-ordered scratch allocation: the block list, then the digests.
  const size_t list_bytes = blocks.size() * sizeof(DigestKernelBlock);
  const size_t digest_bytes = digests.size() * sizeof(uint64_t);
  void* scratch = nullptr;
  absl::Status status =
      CudaToStatus(cudaMallocAsync(&scratch, list_bytes + digest_bytes, stream_), "digest scratch");
  if (!status.ok()) return status;
  auto* list = static_cast<DigestKernelBlock*>(scratch);
  auto* sums = reinterpret_cast<unsigned long long*>(static_cast<char*>(scratch) + list_bytes);
  status = CudaToStatus(
      cudaMemcpyAsync(list, blocks.data(), list_bytes, cudaMemcpyHostToDevice, stream_),
      "digest block list");
  if (status.ok()) {
    status = CudaToStatus(cudaMemsetAsync(sums, 0, digest_bytes, stream_), "digest reset");
  }
  if (status.ok()) {
    status = CudaToStatus(EnqueueDigestKernel(list, blocks.size(), chunks, sums, stream_),
                          "digest kernel");
  }
  if (status.ok()) {
    status = CudaToStatus(
        cudaMemcpyAsync(digests.data(), sums, digest_bytes, cudaMemcpyDeviceToHost, stream_),
        "digest results");
  }
  cudaFreeAsync(scratch, stream_);
  const absl::Status finished = Finish("digest");
  return status.ok() ? finished : status;
}

absl::Status CudaMemoryOps::MergeLowRankChecked(const LowRankMerge& merge) {
  absl::MutexLock lock(&mu_);
  cudaSetDevice(device_);
  absl::Status status = CudaToStatus(EnqueueLoraMergeKernel(merge, stream_), "LoRA merge kernel");
  const absl::Status finished = Finish("LoRA merge");
  return status.ok() ? finished : status;
}

}  // namespace paramsync::agent
