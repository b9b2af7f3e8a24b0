// File: agent/gpu/digest_kernel.h
// -----------------------------------------------------------------------------
// The GPU side of MemoryOps::Digest (agent/gpu/cuda_memory_ops.cc): one kernel
// launch digests every region of a request. Plain C++ and the CUDA runtime
// API only, so that both gcc (the agent) and nvcc (digest_kernel.cu) read it.
//
// Regions come as blocks (common/tensor_digest.h's DigestBlock: rows of
// elements consecutive in the tensor and in the full parameter). The blocks'
// elements are cut into chunks of kDigestChunkElements; each CUDA block sums
// the terms (common/digest_mix.h) of one chunk at a time and adds its sum to
// the block's digest atomically. Sums wrap, so the order does not matter and
// the result equals the host loop's bit for bit.
#ifndef PARAMSYNC_AGENT_GPU_DIGEST_KERNEL_H_
#define PARAMSYNC_AGENT_GPU_DIGEST_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace paramsync::agent {

// Elements one CUDA block digests in one go.
inline constexpr uint64_t kDigestChunkElements = 16384;

// One block of one region, as the kernel reads it (device memory).
struct DigestKernelBlock {
  const void* data;      // The tensor, on this GPU.
  uint64_t offset;       // DigestBlock's fields: elements of the tensor ...
  uint64_t first_index;  // ... and indices in the full parameter.
  uint64_t rows;
  uint64_t run;
  uint64_t pitch;
  uint64_t index_pitch;
  uint64_t first_chunk;   // Chunks of all blocks before this one.
  uint32_t element_size;  // 1, 2, 4 or 8.
  uint32_t aligned;       // `data` is aligned to element_size: whole-element loads.
  uint64_t digest;        // Index of the digest this block adds to.
};

// Chunks of a block of `rows` x `run` elements.
inline uint64_t DigestChunks(uint64_t rows, uint64_t run) {
  return (rows * run + kDigestChunkElements - 1) / kDigestChunkElements;
}

// Enqueues on `stream` the kernel that adds the terms of `blocks` (device
// memory, `count` of them, ordered by first_chunk, `total_chunks` chunks in
// all) into `digests` (device memory, zeroed by the caller). Returns the
// launch's error.
cudaError_t EnqueueDigestKernel(const DigestKernelBlock* blocks, size_t count,
                                uint64_t total_chunks, unsigned long long* digests,
                                cudaStream_t stream);

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_GPU_DIGEST_KERNEL_H_
