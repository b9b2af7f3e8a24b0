// File: agent/gpu/cuda_memory_ops.h
// -----------------------------------------------------------------------------
// MemoryOps for one GPU: staging buffers from cudaMalloc, copies, TP slices and
// boxes as (2-D) cudaMemcpyAsync on the agent's stream. A dim-k slice of a row-major
// tensor is `outer` rows of one contiguous run each, which is exactly a pitched
// 2-D copy: no kernel is needed. Digests are one kernel launch per request
// (agent/gpu/digest_kernel.h), LoRA merges one per base weight
// (agent/gpu/lora_merge_kernel.h).
#ifndef PARAMSYNC_AGENT_GPU_CUDA_MEMORY_OPS_H_
#define PARAMSYNC_AGENT_GPU_CUDA_MEMORY_OPS_H_

#include <cuda_runtime_api.h>

#include <string>

#include "absl/synchronization/mutex.h"
#include "agent/memory/memory_ops.h"

namespace paramsync::agent {

class CudaMemoryOps final : public MemoryOps {
 public:
  // FAILED_PRECONDITION when `device` is not a usable GPU.
  static absl::StatusOr<std::unique_ptr<CudaMemoryOps>> Create(int device);
  ~CudaMemoryOps() override;

  absl::string_view name() const override { return name_; }
  absl::Status Copy(void* dst, const void* src, size_t bytes) override;

 protected:
  absl::StatusOr<void*> AllocateRaw(size_t bytes) override;
  void Free(void* data) override;
  absl::Status CopyBlocks(absl::Span<const BoxCopyBlock> blocks, const void* src,
                          void* dst) override;
  absl::Status DigestBlocks(absl::Span<const PlannedDigest> planned,
                            absl::Span<uint64_t> digests) override;
  absl::Status MergeLowRankChecked(const LowRankMerge& merge) override;

 private:
  CudaMemoryOps(int device, cudaStream_t stream)
      : device_(device), stream_(stream), name_(absl::StrCat("cuda:", device)) {}
  // Waits for the stream; copies on one GPU finish in bounded time unless the
  // device itself failed, which the error then says.
  absl::Status Finish(const char* what);

  const int device_;
  const cudaStream_t stream_;
  const std::string name_;
  absl::Mutex mu_;  // One operation at a time on the stream.
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_GPU_CUDA_MEMORY_OPS_H_
