#include "common/tensor_slice.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace paramsync {

absl::Status ValidateSlice(const SliceSpec& spec, size_t* slice_bytes) {
  const int rank = static_cast<int>(spec.shape.size());
  if (spec.dim < 0 || spec.dim >= rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("slice dim ", spec.dim, " is out of range for a tensor of rank ", rank));
  }
  if (spec.num_slices <= 0 || spec.shape[spec.dim] % spec.num_slices != 0) {
    return absl::InvalidArgumentError(absl::StrCat("dimension ", spec.dim, " of size ",
                                                   spec.shape[spec.dim], " does not split into ",
                                                   spec.num_slices, " equal slices"));
  }
  if (spec.index < 0 || spec.index >= spec.num_slices) {
    return absl::InvalidArgumentError(
        absl::StrCat("slice index ", spec.index, " is not in [0, ", spec.num_slices, ")"));
  }
  size_t bytes = static_cast<size_t>(spec.element_size);
  for (int d = 0; d < rank; ++d) {
    bytes *= static_cast<size_t>(d == spec.dim ? spec.shape[d] / spec.num_slices : spec.shape[d]);
  }
  *slice_bytes = bytes;
  return absl::OkStatus();
}

absl::StatusOr<SliceGeometry> GeometryOf(const SliceSpec& spec, size_t slice_bytes) {
  size_t expected = 0;
  absl::Status valid = ValidateSlice(spec, &expected);
  if (!valid.ok()) return valid;
  if (expected != slice_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("slice needs ", expected, " bytes, destination holds ", slice_bytes));
  }
  // The tensor is [outer, dim, inner]: each of the `outer` rows contributes one
  // contiguous run of the slice.
  SliceGeometry geometry;
  geometry.rows = 1;
  for (int d = 0; d < spec.dim; ++d) geometry.rows *= static_cast<size_t>(spec.shape[d]);
  size_t inner_bytes = static_cast<size_t>(spec.element_size);
  for (size_t d = spec.dim + 1; d < spec.shape.size(); ++d) {
    inner_bytes *= static_cast<size_t>(spec.shape[d]);
  }
  geometry.row_bytes = static_cast<size_t>(spec.shape[spec.dim]) * inner_bytes;
  geometry.run_bytes = geometry.row_bytes / spec.num_slices;
  geometry.first_byte = spec.index * geometry.run_bytes;
  return geometry;
}

absl::Status CopySlice(const SliceSpec& spec, const void* whole, void* slice, size_t slice_bytes) {
  absl::StatusOr<SliceGeometry> g = GeometryOf(spec, slice_bytes);
  if (!g.ok()) return g.status();
  const char* src = static_cast<const char*>(whole) + g->first_byte;
  char* dst = static_cast<char*>(slice);
  for (size_t row = 0; row < g->rows; ++row) {
    std::memcpy(dst + row * g->run_bytes, src + row * g->row_bytes, g->run_bytes);
  }
  return absl::OkStatus();
}

}  // namespace paramsync
