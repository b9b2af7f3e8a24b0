// The digest kernel; see digest_kernel.h.
#include "agent/gpu/digest_kernel.h"
#include "common/digest_mix.h"

namespace paramsync::agent {
namespace {

constexpr int kThreads = 256;
// Elements a thread loads before it hashes them: loads in flight hide memory
// latency (one at a time, the kernel runs at a fraction of the bandwidth).
constexpr int kBatch = 4;
// Enough CUDA blocks to fill any current GPU; each takes a contiguous range
// of chunks.
constexpr uint64_t kMaxGridBlocks = 2048;

// The bits of element `element` of the tensor at `data`, zero-extended: one
// load when the tensor is aligned to its elements, else byte by byte
// (little-endian; a tensor registered at an odd offset).
template <typename Bits, bool kAligned>
__device__ inline uint64_t LoadElement(const void* data, uint64_t element) {
  if (kAligned) return static_cast<const Bits*>(data)[element];
  const uint8_t* bytes = static_cast<const uint8_t*>(data) + element * sizeof(Bits);
  uint64_t bits = 0;
  for (size_t i = 0; i < sizeof(Bits); ++i) bits |= uint64_t{bytes[i]} << (8 * i);
  return bits;
}

// This thread's share of the terms of elements [begin, end) of `block`, in
// its row-major order: elements begin + threadIdx.x, then every kThreads-th.
// kRows: the block has several rows; a step can then cross into the next row.
template <typename Bits, bool kAligned, bool kRows>
__device__ uint64_t SumElements(const DigestKernelBlock& block, uint64_t begin, uint64_t end) {
  const uint64_t first = begin + threadIdx.x;
  if (first >= end) return 0;
  // A step of kThreads elements is `rows_step` rows and `cols_step` columns,
  // one row more when the column wraps; the tensor offset and the counter
  // (linear in the index) advance by fixed amounts either way.
  uint64_t col = kRows ? first % block.run : first;
  const uint64_t row = kRows ? first / block.run : 0;
  uint64_t element = block.offset + row * block.pitch + col;
  uint64_t counter = DigestCounter(block.first_index + row * block.index_pitch + col);
  const uint64_t rows_step = kRows ? kThreads / block.run : 0;
  const uint64_t cols_step = kRows ? kThreads % block.run : kThreads;
  const uint64_t element_step = rows_step * block.pitch + cols_step;
  const uint64_t counter_step = (rows_step * block.index_pitch + cols_step) * kDigestCounterStep;
  const uint64_t element_wrap = block.pitch - block.run;
  const uint64_t counter_wrap = (block.index_pitch - block.run) * kDigestCounterStep;
  // Elements left for this thread (a CUDA block's range is a share of one
  // GPU's tensors: far fewer than 2^32 per thread).
  uint32_t left = static_cast<uint32_t>((end - first + kThreads - 1) / kThreads);
  uint64_t sum = 0;
  while (left > 0) {
    uint64_t bits[kBatch];
    uint64_t counters[kBatch];
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      if (j < left) {
        bits[j] = LoadElement<Bits, kAligned>(block.data, element);
        counters[j] = counter;
      }
      element += element_step;
      counter += counter_step;
      if (kRows) {
        col += cols_step;
        if (col >= block.run) {
          col -= block.run;
          element += element_wrap;
          counter += counter_wrap;
        }
      }
    }
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      if (j < left) sum += DigestTermAt(bits[j], counters[j]);
    }
    left = left > kBatch ? left - kBatch : 0;
  }
  return sum;
}

template <typename Bits, bool kAligned>
__device__ uint64_t SumRowsOrRun(const DigestKernelBlock& block, uint64_t begin, uint64_t end) {
  return block.rows > 1 ? SumElements<Bits, kAligned, true>(block, begin, end)
                        : SumElements<Bits, kAligned, false>(block, begin, end);
}

template <bool kAligned>
__device__ uint64_t SumElementsOf(const DigestKernelBlock& block, uint64_t begin, uint64_t end) {
  switch (block.element_size) {
    case 1:
      return SumRowsOrRun<uint8_t, kAligned>(block, begin, end);
    case 2:
      return SumRowsOrRun<uint16_t, kAligned>(block, begin, end);
    case 4:
      return SumRowsOrRun<uint32_t, kAligned>(block, begin, end);
    default:
      return SumRowsOrRun<uint64_t, kAligned>(block, begin, end);
  }
}

// The block sum of every thread's `value`, in thread 0.
__device__ inline unsigned long long BlockSum(unsigned long long value,
                                              unsigned long long* warp_sums) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  for (int offset = 16; offset > 0; offset /= 2) {
    value += __shfl_down_sync(0xffffffffu, value, offset);
  }
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  value = 0;
  if (warp == 0) {
    if (lane < kThreads / 32) value = warp_sums[lane];
    for (int offset = 16; offset > 0; offset /= 2) {
      value += __shfl_down_sync(0xffffffffu, value, offset);
    }
  }
  __syncthreads();  // warp_sums is reused by the next block of the range.
  return value;
}

// Each CUDA block digests a contiguous range of chunks: it finds the first
// chunk's block once, then walks the blocks the range spans, adding one sum per
// block to that block's digest.
// At least 4 resident CUDA blocks per SM (<= 64 registers a thread): with the
// batches' loads in flight, enough to hide memory latency (on H100: 1.2 TB/s
// of bf16 in whole tensors, 0.8 TB/s in TP column slices; compute-bound).
__global__ void __launch_bounds__(kThreads, 4)
    DigestKernel(const DigestKernelBlock* blocks, size_t count, uint64_t total_chunks,
                 unsigned long long* digests) {
  __shared__ unsigned long long warp_sums[kThreads / 32];
  const uint64_t per_cuda_block = (total_chunks + gridDim.x - 1) / gridDim.x;
  uint64_t chunk = blockIdx.x * per_cuda_block;
  const uint64_t last = min(chunk + per_cuda_block, total_chunks);
  if (chunk >= last) return;  // The whole CUDA block: none reaches a barrier.
  // The last block starting at or before the chunk (every thread finds the same).
  size_t b = 0;
  size_t high = count;
  while (high - b > 1) {
    const size_t middle = (b + high) / 2;
    if (blocks[middle].first_chunk <= chunk) {
      b = middle;
    } else {
      high = middle;
    }
  }
  while (chunk < last) {
    while (b + 1 < count && blocks[b + 1].first_chunk <= chunk) ++b;
    const DigestKernelBlock block = blocks[b];
    const uint64_t block_end = b + 1 < count ? blocks[b + 1].first_chunk : total_chunks;
    const uint64_t stop = min(last, block_end);
    const uint64_t begin = (chunk - block.first_chunk) * kDigestChunkElements;
    const uint64_t end =
        min((stop - block.first_chunk) * kDigestChunkElements, block.rows * block.run);
    unsigned long long sum = block.aligned ? SumElementsOf<true>(block, begin, end)
                                           : SumElementsOf<false>(block, begin, end);
    sum = BlockSum(sum, warp_sums);
    if (threadIdx.x == 0) atomicAdd(&digests[block.digest], sum);
    chunk = stop;
  }
}

}  // namespace

cudaError_t EnqueueDigestKernel(const DigestKernelBlock* blocks, size_t count,
                                uint64_t total_chunks, unsigned long long* digests,
                                cudaStream_t stream) {
  if (count == 0 || total_chunks == 0) return cudaSuccess;
  // An error an earlier call on this thread left behind is not the launch's.
  (void)cudaGetLastError();
  const uint64_t grid = total_chunks < kMaxGridBlocks ? total_chunks : kMaxGridBlocks;
  DigestKernel<<<static_cast<unsigned int>(grid), kThreads, 0, stream>>>(blocks, count,
                                                                         total_chunks, digests);
  return cudaGetLastError();
}

}  // namespace paramsync::agent
