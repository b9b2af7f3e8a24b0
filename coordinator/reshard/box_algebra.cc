#include "coordinator/reshard/box_algebra.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace paramsync::coordinator {

int64_t Volume(absl::Span<const int64_t> extent) {
  int64_t n = 1;
  for (int64_t e : extent) n *= e;
  return n;
}

std::optional<Box> Intersect(const Box& a, const Box& b) {
  Box common{Shape(a.start.size()), Shape(a.start.size())};
  for (size_t d = 0; d < a.start.size(); ++d) {
    const int64_t begin = std::max(a.start[d], b.start[d]);
    const int64_t end = std::min(a.start[d] + a.extent[d], b.start[d] + b.extent[d]);
    if (end <= begin) return std::nullopt;
    common.start[d] = begin;
    common.extent[d] = end - begin;
  }
  return common;
}

std::vector<Box> Subtract(const Box& outer, const Box& inner) {
  std::vector<Box> out;
  // Peel dimension by dimension: the slabs of `rest` before and after `inner`
  // along d, then narrow `rest` to inner's range in d.
  Box rest = outer;
  for (size_t d = 0; d < outer.start.size(); ++d) {
    const int64_t rest_end = rest.start[d] + rest.extent[d];
    const int64_t inner_end = inner.start[d] + inner.extent[d];
    if (inner.start[d] > rest.start[d]) {
      Box before = rest;
      before.extent[d] = inner.start[d] - rest.start[d];
      out.push_back(std::move(before));
    }
    if (inner_end < rest_end) {
      Box after = rest;
      after.start[d] = inner_end;
      after.extent[d] = rest_end - inner_end;
      out.push_back(std::move(after));
    }
    rest.start[d] = inner.start[d];
    rest.extent[d] = inner.extent[d];
  }
  return out;
}

Box Translate(const Box& box, absl::Span<const int64_t> from, absl::Span<const int64_t> to) {
  Box out = box;
  for (size_t d = 0; d < out.start.size(); ++d) out.start[d] += to[d] - from[d];
  return out;
}

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

std::string BoxString(const Box& box) {
  return absl::StrCat("start ", ShapeString(box.start), " extent ", ShapeString(box.extent));
}

}  // namespace paramsync::coordinator
