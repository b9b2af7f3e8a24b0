// File: common/tensor_slice.h
// -----------------------------------------------------------------------------
// Slicing of row-major tensors along one dimension: how a destination rank keeps
// its 1/k part of a tensor-parallel shard it received whole.
#ifndef PARAMSYNC_COMMON_TENSOR_SLICE_H_
#define PARAMSYNC_COMMON_TENSOR_SLICE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// A slice as a strided copy: the tensor is `rows` rows of `row_bytes` each, and
// the slice is the `run_bytes` starting `first_byte` into every row, laid out
// back to back. (What a host loop or a pitched 2-D device copy needs.)
struct SliceGeometry {
  size_t rows = 0;
  size_t row_bytes = 0;
  size_t run_bytes = 0;
  size_t first_byte = 0;
};

// Validates as ValidateSlice does and checks that the destination holds exactly
// `slice_bytes`.
absl::StatusOr<SliceGeometry> GeometryOf(const SliceSpec& spec, size_t slice_bytes);

// Copies the slice out of `whole` into the contiguous buffer `slice`, which holds
// exactly the slice's bytes (checked).
absl::Status CopySlice(const SliceSpec& spec, const void* whole, void* slice, size_t slice_bytes);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_TENSOR_SLICE_H_
