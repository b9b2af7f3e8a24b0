#include "common/tensor_digest.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "common/digest_mix.h"

namespace paramsync {
namespace {

using Shape = std::vector<int64_t>;

int64_t Elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t Linear(const Shape& shape, const Shape& at) {
  int64_t index = 0;
  for (size_t d = 0; d < shape.size(); ++d) index = index * shape[d] + at[d];
  return index;
}

// The definition, element by element: the region's elements, each with its
// bits and its index in the full parameter.
uint64_t ReferenceDigest(const Shape& shape, const Shape& start, const Shape& extent,
                         const Shape& global_shape, const Shape& global_start, int element_size,
                         const std::vector<uint8_t>& data) {
  for (int64_t e : extent) {
    if (e == 0) return 0;
  }
  uint64_t sum = 0;
  Shape i(extent.size(), 0);
  while (true) {
    Shape local(i.size()), global(i.size());
    for (size_t d = 0; d < i.size(); ++d) {
      local[d] = start[d] + i[d];
      global[d] = global_start[d] + i[d];
    }
    uint64_t bits = 0;
    std::memcpy(&bits, data.data() + Linear(shape, local) * element_size, element_size);
    sum += DigestTerm(bits, static_cast<uint64_t>(Linear(global_shape, global)));
    size_t d = i.size();
    while (d > 0 && ++i[d - 1] == extent[d - 1]) i[--d] = 0;
    if (d == 0) return sum;
  }
}

std::vector<uint8_t> RandomBytes(size_t n, std::mt19937_64& rng) {
  std::vector<uint8_t> bytes(n);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

uint64_t Digest(const Shape& shape, const Shape& start, const Shape& extent,
                const Shape& global_shape, const Shape& global_start, int element_size,
                const std::vector<uint8_t>& data) {
  absl::StatusOr<uint64_t> digest = DigestOnHost(
      {shape, start, extent, global_shape, global_start, element_size}, data.data(), data.size());
  INFO(digest.status().ToString());
  REQUIRE(digest.ok());
  return *digest;
}

// The digest of a whole tensor that is the box at `global_start` of the parameter.
uint64_t DigestWhole(const Shape& shape, const Shape& global_shape, const Shape& global_start,
                     int element_size, const std::vector<uint8_t>& data) {
  return Digest(shape, Shape(shape.size(), 0), shape, global_shape, global_start, element_size,
                data);
}

TEST_CASE("A region's digest sums its elements' terms at their indices in the parameter",
          "[tensor_digest]") {
  std::mt19937_64 rng(7);
  for (int element_size : {1, 2, 4, 8}) {
    for (int trial = 0; trial < 40; ++trial) {
      const size_t rank = 1 + rng() % 4;
      Shape global_shape(rank), shape(rank), origin(rank), start(rank), extent(rank);
      for (size_t d = 0; d < rank; ++d) {
        global_shape[d] = 1 + static_cast<int64_t>(rng() % 7);
        shape[d] = 1 + static_cast<int64_t>(rng() % global_shape[d]);
        origin[d] = static_cast<int64_t>(rng() % (global_shape[d] - shape[d] + 1));
        start[d] = static_cast<int64_t>(rng() % shape[d]);
        extent[d] = static_cast<int64_t>(rng() % (shape[d] - start[d] + 1));
      }
      Shape global_start(rank);
      for (size_t d = 0; d < rank; ++d) global_start[d] = origin[d] + start[d];
      const std::vector<uint8_t> data = RandomBytes(Elements(shape) * element_size, rng);
      INFO("element size " << element_size << ", trial " << trial);
      CHECK(Digest(shape, start, extent, global_shape, global_start, element_size, data) ==
            ReferenceDigest(shape, start, extent, global_shape, global_start, element_size, data));
    }
  }
}

TEST_CASE("Digests of the parts of a partition add up to the digest of the whole",
          "[tensor_digest]") {
  std::mt19937_64 rng(11);
  const Shape full = {6, 8, 10};
  for (int element_size : {1, 2, 4, 8}) {
    const std::vector<uint8_t> parameter = RandomBytes(Elements(full) * element_size, rng);
    const uint64_t whole = DigestWhole(full, full, {0, 0, 0}, element_size, parameter);
    // Two TP shards along dimension 1, each held by its own rank, each digested
    // in two boxes cut along dimensions 0 and 2: six pieces in all.
    uint64_t sum = 0;
    for (int64_t tp = 0; tp < 2; ++tp) {
      const Shape shard_shape = {6, 4, 10};
      std::vector<uint8_t> shard(Elements(shard_shape) * element_size);
      for (int64_t i = 0; i < 6; ++i) {
        for (int64_t j = 0; j < 4; ++j) {
          std::memcpy(&shard[Linear(shard_shape, {i, j, 0}) * element_size],
                      &parameter[Linear(full, {i, tp * 4 + j, 0}) * element_size],
                      10 * element_size);
        }
      }
      const Shape origin = {0, tp * 4, 0};
      for (const auto& [start, extent] : {std::pair<Shape, Shape>{{0, 0, 0}, {2, 4, 10}},
                                          {{2, 0, 0}, {4, 4, 3}},
                                          {{2, 0, 3}, {4, 4, 7}}}) {
        const Shape global_start = {start[0], origin[1] + start[1], start[2]};
        sum += Digest(shard_shape, start, extent, full, global_start, element_size, shard);
      }
    }
    INFO("element size " << element_size);
    CHECK(sum == whole);
  }
}

TEST_CASE("A changed, swapped or misplaced element changes the digest", "[tensor_digest]") {
  std::mt19937_64 rng(3);
  const Shape shape = {16, 32};
  const Shape global = {32, 32};
  for (int element_size : {1, 2, 4, 8}) {
    std::vector<uint8_t> data = RandomBytes(Elements(shape) * element_size, rng);
    const uint64_t digest = DigestWhole(shape, global, {16, 0}, element_size, data);
    INFO("element size " << element_size);
    // The same bytes as another part of the parameter.
    CHECK(DigestWhole(shape, global, {0, 0}, element_size, data) != digest);
    std::vector<uint8_t> flipped = data;
    flipped[77] ^= 0x10;
    CHECK(DigestWhole(shape, global, {16, 0}, element_size, flipped) != digest);
    // Two different elements trade places.
    std::vector<uint8_t> swapped = data;
    std::memset(&swapped[0], 0x11, element_size);
    std::memset(&swapped[5 * element_size], 0x22, element_size);
    const uint64_t before = DigestWhole(shape, global, {16, 0}, element_size, swapped);
    std::memset(&swapped[0], 0x22, element_size);
    std::memset(&swapped[5 * element_size], 0x11, element_size);
    CHECK(DigestWhole(shape, global, {16, 0}, element_size, swapped) != before);
    // All zeros still digest to something that depends on where they are.
    const std::vector<uint8_t> zeros(data.size(), 0);
    CHECK(DigestWhole(shape, global, {16, 0}, element_size, zeros) !=
          DigestWhole(shape, global, {0, 0}, element_size, zeros));
  }
}

TEST_CASE("Malformed digest regions are refused", "[tensor_digest]") {
  const std::vector<uint8_t> data(4 * 4 * 2);
  const Shape shape = {4, 4};
  auto status = [&](const Shape& start, const Shape& extent, const Shape& global_start,
                    int element_size, size_t bytes) {
    return DigestOnHost({shape, start, extent, {8, 4}, global_start, element_size}, data.data(),
                        bytes)
        .status();
  };
  CHECK(status({0, 0}, {4, 4}, {4, 0}, 2, data.size()).ok());
  CHECK(status({0, 0}, {4, 4}, {4, 0}, 3, data.size()).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(status({1, 0}, {4, 4}, {4, 0}, 2, data.size()).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(status({0, 0}, {4, 4}, {5, 0}, 2, data.size()).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(status({0, 0}, {4, 4}, {4, 0}, 2, data.size() - 1).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(status({0}, {4}, {4}, 2, data.size()).code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace paramsync
