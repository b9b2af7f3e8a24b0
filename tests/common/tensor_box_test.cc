#include "common/tensor_box.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace paramsync {
namespace {

// Element index of `at` in a row-major tensor of `shape`.
int64_t Linear(const std::vector<int64_t>& shape, const std::vector<int64_t>& at) {
  int64_t index = 0;
  for (size_t d = 0; d < shape.size(); ++d) index = index * shape[d] + at[d];
  return index;
}

// The simple reference: visit every element of the box.
void ReferenceCopy(const std::vector<int64_t>& src_shape, const std::vector<int64_t>& src_start,
                   const std::vector<int64_t>& dst_shape, const std::vector<int64_t>& dst_start,
                   const std::vector<int64_t>& extent, const std::vector<int32_t>& src,
                   std::vector<int32_t>& dst) {
  std::vector<int64_t> i(extent.size(), 0);
  for (int64_t e : extent) {
    if (e == 0) return;
  }
  while (true) {
    std::vector<int64_t> s(i.size()), t(i.size());
    for (size_t d = 0; d < i.size(); ++d) {
      s[d] = src_start[d] + i[d];
      t[d] = dst_start[d] + i[d];
    }
    dst[Linear(dst_shape, t)] = src[Linear(src_shape, s)];
    size_t d = i.size();
    while (d > 0 && ++i[d - 1] == extent[d - 1]) i[--d] = 0;
    if (d == 0) return;
  }
}

int64_t Count(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
}

}  // namespace

TEST_CASE("box copies match an element-by-element reference on random boxes") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    const int rank = std::uniform_int_distribution<int>(0, 4)(rng);
    std::vector<int64_t> src_shape(rank), dst_shape(rank), extent(rank), src_start(rank),
        dst_start(rank);
    for (int d = 0; d < rank; ++d) {
      extent[d] = std::uniform_int_distribution<int64_t>(0, 4)(rng);
      // Often whole on one or both sides, so runs merge.
      src_shape[d] =
          extent[d] + (rng() % 2 ? 0 : std::uniform_int_distribution<int64_t>(0, 3)(rng));
      dst_shape[d] =
          extent[d] + (rng() % 2 ? 0 : std::uniform_int_distribution<int64_t>(0, 3)(rng));
      src_start[d] = std::uniform_int_distribution<int64_t>(0, src_shape[d] - extent[d])(rng);
      dst_start[d] = std::uniform_int_distribution<int64_t>(0, dst_shape[d] - extent[d])(rng);
    }
    std::vector<int32_t> src(Count(src_shape));
    std::iota(src.begin(), src.end(), 1);
    std::vector<int32_t> expected(Count(dst_shape), -1);
    std::vector<int32_t> actual = expected;
    ReferenceCopy(src_shape, src_start, dst_shape, dst_start, extent, src, expected);
    BoxCopySpec spec{src_shape, src_start, dst_shape, dst_start, extent, sizeof(int32_t)};
    REQUIRE(CopyBoxOnHost(spec, src.data(), src.size() * 4, actual.data(), actual.size() * 4).ok());
    REQUIRE(actual == expected);
  }
}

TEST_CASE("a box copy merges whole trailing dimensions into one run per row") {
  // Experts 2..3 of [4 experts, 6 rows, 8 cols], columns 4..7: 12 rows of 4 elements.
  const std::vector<int64_t> shape{4, 6, 8};
  const std::vector<int64_t> start{2, 0, 4}, extent{2, 6, 4}, zero{0, 0, 0};
  auto blocks = PlanBoxCopy({shape, start, extent, zero, extent, 2});
  REQUIRE(blocks.ok());
  REQUIRE(blocks->size() == 2);  // One block per expert, 6 rows each.
  CHECK((*blocks)[0].rows == 6);
  CHECK((*blocks)[0].run_bytes == 8);
  CHECK((*blocks)[0].src_pitch == 16);
  CHECK((*blocks)[1].src_offset == (3 * 48 + 4) * 2);
  // A block of whole experts is one contiguous range.
  CHECK(IsContiguousBox(shape, {2, 6, 8}));
  CHECK_FALSE(IsContiguousBox(shape, {2, 6, 4}));
  CHECK(IsContiguousBox(shape, {1, 3, 8}));
  CHECK(BoxOffset(shape, {2, 1, 0}, 2) == (2 * 48 + 8) * 2);
}

TEST_CASE("boxes outside their tensor are refused with the dimension") {
  const std::vector<int64_t> shape{4, 6};
  absl::Status status = ValidateBox(shape, {3, 0}, {2, 6});
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(status.message().find("dimension 0") != absl::string_view::npos);
  CHECK(ValidateBox(shape, {0}, {4}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(ValidateBox(shape, {0, -1}, {4, 1}).code() == absl::StatusCode::kInvalidArgument);
  std::vector<char> small(8), big(48);
  CHECK(CopyBoxOnHost({shape, {0, 0}, shape, {0, 0}, shape, 2}, big.data(), 48, small.data(), 8)
            .code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace paramsync
