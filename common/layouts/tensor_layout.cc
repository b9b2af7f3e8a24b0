#include "common/layouts/tensor_layout.h"

namespace paramsync::layouts {

TensorLayout Whole(const LogicalParam& param) {
  const Shape zero(param.shape.size(), 0);
  return TensorLayout{param.shape, {Piece{param.name, param.shape, zero, zero, param.shape}}};
}

TensorLayout Rows(const LogicalParam& param, int64_t start, int64_t count) {
  Shape extent = param.shape;
  extent[0] = count;
  Shape logical_start(param.shape.size(), 0);
  logical_start[0] = start;
  return TensorLayout{
      extent, {Piece{param.name, param.shape, logical_start, Shape(extent.size(), 0), extent}}};
}

TensorLayout Columns(const LogicalParam& param, int64_t start, int64_t count) {
  const Shape extent{param.shape[0], count};
  return TensorLayout{extent, {Piece{param.name, param.shape, {0, start}, {0, 0}, extent}}};
}

TensorLayout PaddingRows(int64_t count, const Shape& row_shape) {
  Shape shape{count};
  shape.insert(shape.end(), row_shape.begin(), row_shape.end());
  return TensorLayout{shape, {}};
}

TensorLayout StackRows(const std::vector<TensorLayout>& parts) {
  TensorLayout out;
  int64_t rows = 0;
  for (const TensorLayout& part : parts) {
    for (Piece piece : part.pieces) {
      piece.local_start[0] += rows;
      out.pieces.push_back(std::move(piece));
    }
    rows += part.shape[0];
    out.shape = part.shape;
  }
  if (!out.shape.empty()) out.shape[0] = rows;
  return out;
}

}  // namespace paramsync::layouts
