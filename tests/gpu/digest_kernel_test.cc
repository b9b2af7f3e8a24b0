// The GPU digest (agent/gpu/digest_kernel.cu through CudaMemoryOps::Digest)
// against the host loop (common/tensor_digest.h), bit for bit: random boxes of
// ranks 1-5 in tensors of 1, 2, 4 and 8-byte elements, all in one request (one
// launch), rows shorter and longer than a CUDA block, regions larger than a
// chunk, tensors at odd addresses, empty regions. Also prints the kernel's
// throughput. Hidden ("[.][gpu]"): run on a GPU machine (tests/gpu/README.md).
#include <cuda_runtime_api.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "agent/gpu/cuda_memory_ops.h"
#include "common/tensor_digest.h"

namespace paramsync::agent {
namespace {

using Shape = std::vector<int64_t>;

int DeviceCount() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

int64_t Elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// One region of a tensor, its bytes on the host and on the GPU.
struct Case {
  Shape shape, start, extent, global_shape, global_start;
  int element_size = 2;
  std::vector<uint8_t> host;
  char* device = nullptr;  // Inside `allocation`, `misalign` bytes in.
  void* allocation = nullptr;

  DigestRegion Region() const {
    return {shape, start, extent, global_shape, global_start, element_size};
  }
};

// `region` of the GPU tensor at `data`, planned.
PlannedDigest Planned(const void* data, const DigestRegion& region) {
  absl::StatusOr<std::vector<DigestBlock>> blocks = PlanDigest(region);
  INFO(blocks.status().ToString());
  REQUIRE(blocks.ok());
  return {data, region.element_size, *std::move(blocks)};
}

// A random box of rank 1-5 in a random tensor inside a random parameter;
// `large`: a [3, 1000, 1100] tensor digested whole (several chunks).
Case RandomCase(std::mt19937_64& rng, int element_size, bool large, int misalign) {
  Case c;
  c.element_size = element_size;
  const size_t rank = large ? 3 : 1 + rng() % 5;
  for (size_t d = 0; d < rank; ++d) {
    const int64_t global = large ? Shape{6, 1000, 1100}[d] : 1 + static_cast<int64_t>(rng() % 9);
    const int64_t size = large ? Shape{3, 1000, 1100}[d] : 1 + static_cast<int64_t>(rng() % global);
    const int64_t origin = static_cast<int64_t>(rng() % (global - size + 1));
    const int64_t start = large ? 0 : static_cast<int64_t>(rng() % size);
    const int64_t extent = large ? size : 1 + static_cast<int64_t>(rng() % (size - start));
    c.global_shape.push_back(global);
    c.shape.push_back(size);
    c.start.push_back(start);
    c.extent.push_back(extent);
    c.global_start.push_back(origin + start);
  }
  // Rows longer than a CUDA block (256 threads), in a rank-2 case.
  if (!large && rank == 2 && rng() % 2 == 0) {
    c.global_shape = {4, 1500};
    c.shape = {2, 1000};
    c.start = {0, 100};
    c.extent = {2, 700};
    c.global_start = {1, 600};
  }
  c.host.resize(Elements(c.shape) * element_size);
  for (uint8_t& b : c.host) b = static_cast<uint8_t>(rng());
  REQUIRE(cudaMalloc(&c.allocation, c.host.size() + 8) == cudaSuccess);
  c.device = static_cast<char*>(c.allocation) + misalign;
  REQUIRE(cudaMemcpy(c.device, c.host.data(), c.host.size(), cudaMemcpyHostToDevice) ==
          cudaSuccess);
  return c;
}

TEST_CASE("GPU digests need the GPU: a device that is not there is refused, named",
          "[gpu_digest]") {
  // Device index DeviceCount() never exists (any device, without a GPU).
  absl::StatusOr<std::unique_ptr<CudaMemoryOps>> memory = CudaMemoryOps::Create(DeviceCount());
  REQUIRE_FALSE(memory.ok());
  CHECK(std::string(memory.status().message()).find("CUDA device") != std::string::npos);
}

TEST_CASE("GPU digests equal the host loop's, bit for bit", "[.][gpu][digest]") {
  REQUIRE(DeviceCount() >= 1);
  absl::StatusOr<std::unique_ptr<CudaMemoryOps>> memory = CudaMemoryOps::Create(0);
  INFO(memory.status().ToString());
  REQUIRE(memory.ok());
  std::mt19937_64 rng(17);
  std::vector<Case> cases;
  for (int element_size : {1, 2, 4, 8}) {
    for (int i = 0; i < 50; ++i) {
      // Every tenth tensor at an address that is not a multiple of its elements.
      const int misalign = (i % 10 == 9 && element_size > 1) ? 1 : 0;
      cases.push_back(RandomCase(rng, element_size, /*large=*/false, misalign));
    }
    cases.push_back(RandomCase(rng, element_size, /*large=*/true, 0));
  }
  Case empty = RandomCase(rng, 2, false, 0);
  empty.extent[0] = 0;
  cases.push_back(empty);
  std::vector<PlannedDigest> planned;
  for (const Case& c : cases) planned.push_back(Planned(c.device, c.Region()));
  absl::StatusOr<std::vector<uint64_t>> digests = (*memory)->Digest(planned);
  INFO(digests.status().ToString());
  REQUIRE(digests.ok());
  REQUIRE(digests->size() == cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    absl::StatusOr<uint64_t> host =
        DigestOnHost(cases[i].Region(), cases[i].host.data(), cases[i].host.size());
    REQUIRE(host.ok());
    INFO("case " << i << ", element size " << cases[i].element_size << ", rank "
                 << cases[i].shape.size());
    CHECK((*digests)[i] == *host);
  }
  CHECK(digests->back() == 0);
  for (Case& c : cases) cudaFree(c.allocation);
}

TEST_CASE("GPU digest throughput over 1 GiB of bf16, whole and as TP halves", "[.][gpu][digest]") {
  REQUIRE(DeviceCount() >= 1);
  absl::StatusOr<std::unique_ptr<CudaMemoryOps>> memory = CudaMemoryOps::Create(0);
  REQUIRE(memory.ok());
  const Shape shape = {32768, 16384};  // 1 GiB of 2-byte elements.
  void* tensor = nullptr;
  REQUIRE(cudaMalloc(&tensor, 2 * Elements(shape)) == cudaSuccess);
  REQUIRE(cudaMemset(tensor, 0x5a, 2 * Elements(shape)) == cudaSuccess);
  const Shape zero = {0, 0}, half = {32768, 8192}, half_start = {0, 8192};
  const std::vector<PlannedDigest> whole = {Planned(tensor, {shape, zero, shape, shape, zero, 2})};
  // TP halves of the columns: rows of 8192 elements, the harder case.
  const std::vector<PlannedDigest> halves = {
      Planned(tensor, {shape, zero, half, shape, zero, 2}),
      Planned(tensor, {shape, half_start, half, shape, half_start, 2})};
  REQUIRE((*memory)->Digest(whole).ok());  // Warm-up (loads the kernel).
  for (const auto* planned : {&whole, &halves}) {
    const absl::Time start = absl::Now();
    absl::StatusOr<std::vector<uint64_t>> digests = (*memory)->Digest(*planned);
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    REQUIRE(digests.ok());
    std::fprintf(stderr, "digest of 1 GiB bf16 in %zu region(s): %.2f ms, %.0f GB/s\n",
                 planned->size(), ms, 1.073741824 / ms * 1e3);
  }
  // The halves add up to the whole.
  const std::vector<uint64_t> a = *(*memory)->Digest(whole);
  const std::vector<uint64_t> b = *(*memory)->Digest(halves);
  CHECK(a[0] == b[0] + b[1]);
  cudaFree(tensor);
}

}  // namespace
}  // namespace paramsync::agent
