// File: common/tensor_slice.h
// -----------------------------------------------------------------------------
// Slicing of row-major tensors along one dimension: how a destination rank keeps
// its 1/k part of a tensor-parallel shard it received whole.
#ifndef PARAMSYNC_COMMON_TENSOR_SLICE_H_
#define PARAMSYNC_COMMON_TENSOR_SLICE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace paramsync {

// Describes slice `index` of `num_slices` equal slices along `dim` of a
// contiguous row-major tensor of `shape` with `element_size`-byte elements.
struct SliceSpec {
  absl::Span<const int64_t> shape;
  int element_size = 1;
  int dim = 0;
  int num_slices = 1;
  int index = 0;
};

// Bytes of the slice; INVALID_ARGUMENT if `dim` is out of range, the dimension is
// not divisible by `num_slices`, or `index` is not in [0, num_slices).
absl::Status ValidateSlice(const SliceSpec& spec, size_t* slice_bytes);

// Copies the slice out of `whole` into the contiguous buffer `slice`, which holds
// exactly the slice's bytes (checked).
absl::Status CopySlice(const SliceSpec& spec, const void* whole, void* slice, size_t slice_bytes);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_TENSOR_SLICE_H_
