#include "common/tensor_box.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace paramsync {
namespace {

// Elements from one index of dimension `dim` to the next.
std::vector<size_t> Strides(absl::Span<const int64_t> shape) {
  std::vector<size_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) {
    strides[i - 1] = strides[i] * static_cast<size_t>(shape[i]);
  }
  return strides;
}

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

}  // namespace

absl::Status ValidateBox(absl::Span<const int64_t> shape, absl::Span<const int64_t> start,
                         absl::Span<const int64_t> extent) {
  if (start.size() != shape.size() || extent.size() != shape.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("box of start ", ShapeString(start), " and extent ", ShapeString(extent),
                     " does not have the rank of tensor shape ", ShapeString(shape)));
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    if (start[d] < 0 || extent[d] < 0 || start[d] > shape[d] || extent[d] > shape[d] - start[d]) {
      return absl::InvalidArgumentError(absl::StrCat("box dimension ", d, " [", start[d], ", +",
                                                     extent[d], ") lies outside size ", shape[d],
                                                     " of tensor shape ", ShapeString(shape)));
    }
  }
  return absl::OkStatus();
}

size_t BoxBytes(absl::Span<const int64_t> shape, int element_size) {
  size_t n = static_cast<size_t>(element_size);
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

bool IsContiguousBox(absl::Span<const int64_t> shape, absl::Span<const int64_t> extent) {
  // Whole in every dimension after the first partial one, 1 in every one before.
  size_t d = shape.size();
  while (d > 0 && extent[d - 1] == shape[d - 1]) --d;
  if (d == 0) return true;
  for (size_t i = 0; i + 1 < d; ++i) {
    if (extent[i] != 1) return false;
  }
  return true;
}

size_t BoxOffset(absl::Span<const int64_t> shape, absl::Span<const int64_t> start,
                 int element_size) {
  const std::vector<size_t> strides = Strides(shape);
  size_t offset = 0;
  for (size_t d = 0; d < shape.size(); ++d) offset += static_cast<size_t>(start[d]) * strides[d];
  return offset * static_cast<size_t>(element_size);
}

absl::StatusOr<std::vector<BoxCopyBlock>> PlanBoxCopy(const BoxCopySpec& spec) {
  absl::Status status = ValidateBox(spec.src_shape, spec.src_start, spec.extent);
  if (status.ok()) status = ValidateBox(spec.dst_shape, spec.dst_start, spec.extent);
  if (!status.ok()) return status;
  const size_t rank = spec.extent.size();
  const size_t element = static_cast<size_t>(spec.element_size);
  std::vector<BoxCopyBlock> blocks;
  for (int64_t e : spec.extent) {
    if (e == 0) return blocks;
  }
  const std::vector<size_t> src_strides = Strides(spec.src_shape);
  const std::vector<size_t> dst_strides = Strides(spec.dst_shape);
  // Trailing dimensions whole on both sides join the run, and so does the
  // first one that is not.
  size_t run_dim = rank;
  size_t run_elements = 1;
  while (run_dim > 0 && spec.extent[run_dim - 1] == spec.src_shape[run_dim - 1] &&
         spec.extent[run_dim - 1] == spec.dst_shape[run_dim - 1]) {
    --run_dim;
    run_elements *= static_cast<size_t>(spec.extent[run_dim]);
  }
  if (run_dim > 0) {
    --run_dim;
    run_elements *= static_cast<size_t>(spec.extent[run_dim]);
  }
  // run_dim is now the outermost dimension inside the run (rank 0: none).
  const bool has_rows = run_dim > 0;
  const size_t row_dim = has_rows ? run_dim - 1 : 0;
  BoxCopyBlock shape;
  shape.run_bytes = run_elements * element;
  shape.rows = has_rows ? static_cast<size_t>(spec.extent[row_dim]) : 1;
  shape.src_pitch = has_rows ? src_strides[row_dim] * element : shape.run_bytes;
  shape.dst_pitch = has_rows ? dst_strides[row_dim] * element : shape.run_bytes;
  const size_t outer_dims = has_rows ? row_dim : 0;
  std::vector<int64_t> index(outer_dims, 0);  // Over the dimensions before the rows.
  while (true) {
    BoxCopyBlock block = shape;
    size_t src = 0;
    size_t dst = 0;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t i = d < outer_dims ? index[d] : 0;
      src += static_cast<size_t>(spec.src_start[d] + i) * src_strides[d];
      dst += static_cast<size_t>(spec.dst_start[d] + i) * dst_strides[d];
    }
    block.src_offset = src * element;
    block.dst_offset = dst * element;
    blocks.push_back(block);
    size_t d = outer_dims;
    while (d > 0) {
      --d;
      if (++index[d] < spec.extent[d]) break;
      index[d] = 0;
      if (d == 0) return blocks;
    }
    if (outer_dims == 0) return blocks;
  }
}

void CopyBlocksOnHost(absl::Span<const BoxCopyBlock> blocks, const void* src, void* dst) {
  const char* from = static_cast<const char*>(src);
  char* to = static_cast<char*>(dst);
  for (const BoxCopyBlock& b : blocks) {
    for (size_t r = 0; r < b.rows; ++r) {
      std::memcpy(to + b.dst_offset + r * b.dst_pitch, from + b.src_offset + r * b.src_pitch,
                  b.run_bytes);
    }
  }
}

absl::Status CopyBoxOnHost(const BoxCopySpec& spec, const void* src, size_t src_bytes, void* dst,
                           size_t dst_bytes) {
  if (BoxBytes(spec.src_shape, spec.element_size) != src_bytes ||
      BoxBytes(spec.dst_shape, spec.element_size) != dst_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("box copy between tensors of ", ShapeString(spec.src_shape), " and ",
                     ShapeString(spec.dst_shape), " given buffers of ", src_bytes, " and ",
                     dst_bytes, " bytes"));
  }
  absl::StatusOr<std::vector<BoxCopyBlock>> blocks = PlanBoxCopy(spec);
  if (!blocks.ok()) return blocks.status();
  CopyBlocksOnHost(*blocks, src, dst);
  return absl::OkStatus();
}

}  // namespace paramsync
