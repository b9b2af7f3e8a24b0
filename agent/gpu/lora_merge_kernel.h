// File: agent/gpu/lora_merge_kernel.h
// -----------------------------------------------------------------------------
// The GPU side of MemoryOps::MergeLowRank (agent/gpu/cuda_memory_ops.cc): one
// kernel launch merges a LoRA adapter into its base weight in place, one
// thread per element of W, each running common/low_rank_merge.h's loop over
// the rank (small: 8 to 64 in practice), so the result equals the host loop's
// bit for bit. Plain C++ and the CUDA runtime API only, so that both gcc (the
// agent) and nvcc (lora_merge_kernel.cu) read it.
#ifndef PARAMSYNC_AGENT_GPU_LORA_MERGE_KERNEL_H_
#define PARAMSYNC_AGENT_GPU_LORA_MERGE_KERNEL_H_

#include <cuda_runtime_api.h>

#include "common/low_rank_merge.h"

namespace paramsync::agent {

// Enqueues on `stream` the kernel that merges `merge` (checked by the caller:
// MemoryOps's CheckLowRankMerge; pointers in this GPU's memory). Returns the
// launch's error.
cudaError_t EnqueueLoraMergeKernel(const LowRankMerge& merge, cudaStream_t stream);

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_GPU_LORA_MERGE_KERNEL_H_
