// File: common/layouts/tensor_layout.h
// -----------------------------------------------------------------------------
// One local tensor as a framework holds it: its shape and the logical pieces
// it holds (paramsync.v1.LogicalPiece: box `extent` at `local_start` of the
// tensor is the box at `logical_start` of logical parameter `logical_name`),
// and the primitives every framework sharding is built from: a block of rows
// or columns of a logical parameter, the whole of one, rows of padding, and
// tensors stacked along dimension 0 (fused QKV, gate/up, experts). Pure.
//
// Example: vLLM's gate_up_proj on TP rank 1 of 2, for gate and up of [8, 4]:
//   StackRows({Rows(gate, 4, 4), Rows(up, 4, 4)})
//   -> shape [8, 4]; gate rows [4, 8) at local row 0, up rows [4, 8) at row 4.
#ifndef PARAMSYNC_COMMON_LAYOUTS_TENSOR_LAYOUT_H_
#define PARAMSYNC_COMMON_LAYOUTS_TENSOR_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace paramsync::layouts {

using Shape = std::vector<int64_t>;

// A logical parameter: unsharded, Hugging Face-named and laid out.
struct LogicalParam {
  std::string name;
  Shape shape;
};

struct Piece {
  std::string logical_name;
  Shape logical_shape;
  Shape logical_start;
  Shape local_start;
  Shape extent;
};

struct TensorLayout {
  Shape shape;
  std::vector<Piece> pieces;  // Disjoint; elements outside every piece are padding.
};

// The whole parameter.
TensorLayout Whole(const LogicalParam& param);

// Rows [start, start + count) of `param` (dimension 0; every other dimension
// whole). Requires 0 <= start, count >= 1 and start + count <= shape[0].
TensorLayout Rows(const LogicalParam& param, int64_t start, int64_t count);

// Columns [start, start + count) of a 2-dimensional `param`, every row.
TensorLayout Columns(const LogicalParam& param, int64_t start, int64_t count);

// `count` rows of shape `row_shape` that belong to no logical parameter.
TensorLayout PaddingRows(int64_t count, const Shape& row_shape);

// `parts` one after another along dimension 0 (equal other dimensions).
TensorLayout StackRows(const std::vector<TensorLayout>& parts);

}  // namespace paramsync::layouts

#endif  // PARAMSYNC_COMMON_LAYOUTS_TENSOR_LAYOUT_H_
