#include "common/tensor_slice.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <numeric>
#include <vector>

namespace paramsync {
namespace {

std::vector<int32_t> Iota(size_t n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST_CASE("CopySlice along dim 0 takes contiguous rows", "[tensor_slice]") {
  const std::vector<int64_t> shape = {4, 3};
  const std::vector<int32_t> whole = Iota(12);
  std::vector<int32_t> slice(6);
  REQUIRE(CopySlice({shape, 4, 0, 2, 1}, whole.data(), slice.data(), 24).ok());
  CHECK(slice == std::vector<int32_t>{6, 7, 8, 9, 10, 11});
}

TEST_CASE("CopySlice along dim 1 takes a strided column block", "[tensor_slice]") {
  const std::vector<int64_t> shape = {2, 4};
  const std::vector<int32_t> whole = Iota(8);  // [[0 1 2 3] [4 5 6 7]]
  std::vector<int32_t> slice(4);
  REQUIRE(CopySlice({shape, 4, 1, 2, 1}, whole.data(), slice.data(), 16).ok());
  CHECK(slice == std::vector<int32_t>{2, 3, 6, 7});
}

TEST_CASE("CopySlice of a middle dim of a 3-d tensor", "[tensor_slice]") {
  const std::vector<int64_t> shape = {2, 3, 2};
  const std::vector<int32_t> whole = Iota(12);
  std::vector<int32_t> slice(4);
  REQUIRE(CopySlice({shape, 4, 1, 3, 2}, whole.data(), slice.data(), 16).ok());
  CHECK(slice == std::vector<int32_t>{4, 5, 10, 11});
}

TEST_CASE("CopySlice rejects what cannot be sliced", "[tensor_slice]") {
  const std::vector<int64_t> shape = {3, 2};
  std::vector<int32_t> whole(6), slice(6);
  CHECK(CopySlice({shape, 4, 0, 2, 0}, whole.data(), slice.data(), 12).code() ==
        absl::StatusCode::kInvalidArgument);  // 3 rows do not split in 2.
  CHECK(CopySlice({shape, 4, 2, 1, 0}, whole.data(), slice.data(), 24).code() ==
        absl::StatusCode::kInvalidArgument);  // No dim 2.
  CHECK(CopySlice({shape, 4, 1, 2, 2}, whole.data(), slice.data(), 12).code() ==
        absl::StatusCode::kInvalidArgument);  // Index out of range.
  CHECK(CopySlice({shape, 4, 1, 2, 0}, whole.data(), slice.data(), 8).code() ==
        absl::StatusCode::kInvalidArgument);  // Destination of the wrong size.
}

}  // namespace
}  // namespace paramsync
