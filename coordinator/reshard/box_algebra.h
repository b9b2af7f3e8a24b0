// File: coordinator/reshard/box_algebra.h
// -----------------------------------------------------------------------------
// Boxes of a logical parameter (a start and an extent per dimension) and the
// set operations resharding plans with: intersection, and the remainder of a
// box once a box inside it is taken out. Pure.
#ifndef PARAMSYNC_COORDINATOR_RESHARD_BOX_ALGEBRA_H_
#define PARAMSYNC_COORDINATOR_RESHARD_BOX_ALGEBRA_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace paramsync::coordinator {

using Shape = std::vector<int64_t>;

struct Box {
  Shape start;
  Shape extent;

  friend bool operator==(const Box& a, const Box& b) {
    return a.start == b.start && a.extent == b.extent;
  }
  friend bool operator<(const Box& a, const Box& b) {
    return a.start != b.start ? a.start < b.start : a.extent < b.extent;
  }
};

// Elements of a box of `extent` (1 for rank 0).
int64_t Volume(absl::Span<const int64_t> extent);

// The common part of two boxes of the same rank; nullopt when it is empty.
std::optional<Box> Intersect(const Box& a, const Box& b);

// `outer` without `inner` (a box inside it), as at most 2 x rank disjoint
// boxes, in a deterministic order.
std::vector<Box> Subtract(const Box& outer, const Box& inner);

// `box` moved by `to - from` in every dimension: where a box of one tensor
// lands in another whose box `to` holds the first one's box `from`.
Box Translate(const Box& box, absl::Span<const int64_t> from, absl::Span<const int64_t> to);

// "[1,2,3]", for messages.
std::string ShapeString(absl::Span<const int64_t> shape);

// "start [..] extent [..]", for messages.
std::string BoxString(const Box& box);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_RESHARD_BOX_ALGEBRA_H_
