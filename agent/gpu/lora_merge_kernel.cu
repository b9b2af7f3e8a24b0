// The LoRA merge kernel; see lora_merge_kernel.h.
#include "agent/gpu/lora_merge_kernel.h"
#include "common/low_rank_merge.h"

namespace paramsync::agent {
namespace {

constexpr int kThreads = 256;
// Enough CUDA blocks to fill any current GPU; each strides over the rest.
constexpr uint64_t kMaxGridBlocks = 4096;

// Consecutive threads take consecutive columns of a row: their loads of W and
// of each row of A coalesce, and B[i][k] is one broadcast load.
template <typename Format>
__global__ void __launch_bounds__(kThreads) LoraMergeKernel(const LowRankMerge merge) {
  const uint64_t elements = merge.rows * merge.cols;
  const uint64_t stride = uint64_t{gridDim.x} * kThreads;
  for (uint64_t e = uint64_t{blockIdx.x} * kThreads + threadIdx.x; e < elements; e += stride) {
    MergeLowRankElement<Format>(merge, e / merge.cols, e % merge.cols);
  }
}

}  // namespace

cudaError_t EnqueueLoraMergeKernel(const LowRankMerge& merge, cudaStream_t stream) {
  const uint64_t elements = merge.rows * merge.cols;
  if (elements == 0) return cudaSuccess;
  // An error an earlier call on this thread left behind is not the launch's.
  (void)cudaGetLastError();
  const uint64_t blocks = (elements + kThreads - 1) / kThreads;
  const unsigned int grid =
      static_cast<unsigned int>(blocks < kMaxGridBlocks ? blocks : kMaxGridBlocks);
  VisitLowRankFormat(merge.element, [&](auto format) {
    LoraMergeKernel<decltype(format)><<<grid, kThreads, 0, stream>>>(merge);
  });
  return cudaGetLastError();
}

}  // namespace paramsync::agent
