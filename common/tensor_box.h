// File: common/tensor_box.h
// -----------------------------------------------------------------------------
// Boxes inside row-major tensors (a start and an extent per dimension) and copies
// between them: how HEP regrouping cuts a block of experts, or one TP shard of
// them, out of one tensor and places it inside another. A box copy is a set of
// pitched 2-D blocks, which a host loop or cudaMemcpy2D moves without a kernel.
#ifndef PARAMSYNC_COMMON_TENSOR_BOX_H_
#define PARAMSYNC_COMMON_TENSOR_BOX_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace paramsync {

// Copies the box of `extent` elements at `src_start` in a tensor of
// `src_shape` to `dst_start` in a tensor of `dst_shape`. A contiguous buffer is
// the tensor whose shape is `extent`, at start 0.
struct BoxCopySpec {
  absl::Span<const int64_t> src_shape;
  absl::Span<const int64_t> src_start;
  absl::Span<const int64_t> dst_shape;
  absl::Span<const int64_t> dst_start;
  absl::Span<const int64_t> extent;
  int element_size = 1;
};

// `rows` runs of `run_bytes`, the first at the given offsets, each next one
// `src_pitch` / `dst_pitch` bytes further.
struct BoxCopyBlock {
  size_t src_offset = 0;
  size_t dst_offset = 0;
  size_t rows = 1;
  size_t run_bytes = 0;
  size_t src_pitch = 0;
  size_t dst_pitch = 0;
};

// INVALID_ARGUMENT, naming the dimension, unless `start` and `extent` have
// shape's rank and the box lies inside `shape`.
absl::Status ValidateBox(absl::Span<const int64_t> shape, absl::Span<const int64_t> start,
                         absl::Span<const int64_t> extent);

// The copy as 2-D blocks: trailing dimensions the box spans whole on both sides
// merge into each run, the dimension before them gives the rows, and every
// index of the dimensions further out is one block. Validates both boxes.
absl::StatusOr<std::vector<BoxCopyBlock>> PlanBoxCopy(const BoxCopySpec& spec);

// Bytes of a tensor of `shape` (element count times `element_size`).
size_t BoxBytes(absl::Span<const int64_t> shape, int element_size);

// Whether the box is one contiguous range of its tensor.
bool IsContiguousBox(absl::Span<const int64_t> shape, absl::Span<const int64_t> extent);

// Byte offset of the box's first element (the box is assumed valid).
size_t BoxOffset(absl::Span<const int64_t> shape, absl::Span<const int64_t> start,
                 int element_size);

// Performs `blocks` between host buffers (the caller checked their sizes).
void CopyBlocksOnHost(absl::Span<const BoxCopyBlock> blocks, const void* src, void* dst);

// Performs `spec` between host buffers of `src_bytes` and `dst_bytes` (checked
// against the shapes).
absl::Status CopyBoxOnHost(const BoxCopySpec& spec, const void* src, size_t src_bytes, void* dst,
                           size_t dst_bytes);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_TENSOR_BOX_H_
