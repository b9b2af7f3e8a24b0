// File: common/tensor_digest.h
// -----------------------------------------------------------------------------
// Digests of tensor regions that do not depend on where or how they are
// computed (sync validation): every element contributes a term of its bits and
// of its row-major index in the full, unsharded parameter (common/digest_mix.h),
// and the terms add up with wrap-around. So a destination shard's digest equals
// the sum of the digests of the source regions it was assembled from, whatever
// path its bytes took, and a GPU reduction (agent/gpu/digest_kernel.cu) and the
// host loop here give identical results.
//
// Example: the digest of rows [2, 4) of a [4, 8] shard that is rows [4, 8) of
// a [8, 8] parameter:
//   DigestRegion region{/*shape=*/{4, 8}, /*start=*/{2, 0}, /*extent=*/{2, 8},
//                       /*global_shape=*/{8, 8}, /*global_start=*/{6, 0}, /*element_size=*/2};
//   absl::StatusOr<uint64_t> digest = DigestOnHost(region, shard, shard_bytes);
#ifndef PARAMSYNC_COMMON_TENSOR_DIGEST_H_
#define PARAMSYNC_COMMON_TENSOR_DIGEST_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace paramsync {

// The box of `extent` elements at `start` of a row-major tensor of `shape`
// (what a rank holds), which is the box at `global_start` of the full
// parameter of `global_shape`. Elements are 1, 2, 4 or 8 bytes.
struct DigestRegion {
  absl::Span<const int64_t> shape;
  absl::Span<const int64_t> start;
  absl::Span<const int64_t> extent;
  absl::Span<const int64_t> global_shape;
  absl::Span<const int64_t> global_start;
  int element_size = 1;
};

// `rows` runs of `run` elements consecutive both in the tensor and in the full
// parameter; the first at element `offset` of the tensor, which is element
// `first_index` of the parameter, each next row `pitch` / `index_pitch`
// elements further. (A box of any rank is a list of these.)
struct DigestBlock {
  uint64_t offset = 0;
  uint64_t first_index = 0;
  uint64_t rows = 1;
  uint64_t run = 0;
  uint64_t pitch = 0;
  uint64_t index_pitch = 0;
};

// The region as blocks (none for an empty region). INVALID_ARGUMENT, naming
// the dimension, when a box lies outside its tensor or the ranks differ, or
// when the element size is not 1, 2, 4 or 8.
absl::StatusOr<std::vector<DigestBlock>> PlanDigest(const DigestRegion& region);

// The digest of `blocks` of the tensor at `data` (host memory, whose size the
// caller checked), elements of `element_size` bytes (1, 2, 4 or 8).
uint64_t DigestBlocksOnHost(absl::Span<const DigestBlock> blocks, const void* data,
                            int element_size);

// The digest of `region` of the host tensor at `data`, which holds exactly
// `bytes` (checked against the shape).
absl::StatusOr<uint64_t> DigestOnHost(const DigestRegion& region, const void* data, size_t bytes);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_TENSOR_DIGEST_H_
