// The GPU LoRA merge (agent/gpu/lora_merge_kernel.cu through
// CudaMemoryOps::MergeLowRank) against the host loop (HostMemoryOps), bit for
// bit: float32, float16 and bfloat16 weights of many shapes (sizes that are
// not multiples of a CUDA block, rank 1 to 64, one large enough that threads
// loop), normal values with random bit patterns mixed in (NaNs, infinities,
// subnormals). Also prints the kernel's time on a 4096 x 4096 bf16 weight.
// Hidden ("[.][gpu]"): run on a GPU machine (tests/gpu/README.md).
#include <cuda_runtime_api.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "absl/time/clock.h"
#include "agent/gpu/cuda_memory_ops.h"
#include "common/float_formats.h"

namespace paramsync::agent {
namespace {

int DeviceCount() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

// `count` elements of `element`: mostly normal values of `sigma`, every 97th
// a random bit pattern.
std::vector<uint8_t> RandomElements(std::mt19937_64& rng, LowRankElement element, uint64_t count,
                                    float sigma) {
  std::normal_distribution<float> normal(0.0f, sigma);
  const uint32_t size = LowRankElementSize(element);
  std::vector<uint8_t> bytes(count * size);
  for (uint64_t i = 0; i < count; ++i) {
    const float value = normal(rng);
    uint32_t bits = static_cast<uint32_t>(rng());
    if (rng() % 97 != 0) {
      bits = element == LowRankElement::kFloat32   ? FloatBits(value)
             : element == LowRankElement::kFloat16 ? FloatToFloat16(value)
                                                   : FloatToBfloat16(value);
    }
    std::memcpy(bytes.data() + i * size, &bits, size);
  }
  return bytes;
}

void* ToDevice(const std::vector<uint8_t>& bytes) {
  void* device = nullptr;
  REQUIRE(cudaMalloc(&device, bytes.size() + 1) == cudaSuccess);
  REQUIRE(cudaMemcpy(device, bytes.data(), bytes.size(), cudaMemcpyHostToDevice) == cudaSuccess);
  return device;
}

struct Shape {
  uint64_t m, n, r;
};

TEST_CASE("GPU LoRA merges equal the host loop's, bit for bit", "[.][gpu][lora]") {
  REQUIRE(DeviceCount() >= 1);
  absl::StatusOr<std::unique_ptr<CudaMemoryOps>> gpu = CudaMemoryOps::Create(0);
  INFO(gpu.status().ToString());
  REQUIRE(gpu.ok());
  HostMemoryOps host;
  std::mt19937_64 rng(23);
  const Shape shapes[] = {{1, 1, 1},     {1, 255, 8},   {3, 257, 16},  {17, 100, 7},
                          {255, 33, 64}, {64, 64, 32},  {513, 129, 8}, {1000, 1100, 16},
                          {2, 3, 1},     {4099, 300, 4}};
  for (LowRankElement element :
       {LowRankElement::kFloat32, LowRankElement::kFloat16, LowRankElement::kBfloat16}) {
    for (const Shape& s : shapes) {
      std::vector<uint8_t> w = RandomElements(rng, element, s.m * s.n, 0.5f);
      const std::vector<uint8_t> a = RandomElements(rng, element, s.r * s.n, 0.05f);
      const std::vector<uint8_t> b = RandomElements(rng, element, s.m * s.r, 0.05f);
      void* w_device = ToDevice(w);
      void* a_device = ToDevice(a);
      void* b_device = ToDevice(b);
      LowRankMerge merge;
      merge.rows = s.m;
      merge.cols = s.n;
      merge.rank = s.r;
      merge.scale = 32.0f / static_cast<float>(s.r);
      merge.element = element;
      merge.base = w_device;
      merge.a = a_device;
      merge.b = b_device;
      const absl::Status merged = (*gpu)->MergeLowRank(merge);
      INFO("element " << static_cast<int>(element) << ", m " << s.m << ", n " << s.n << ", r "
                      << s.r << ": " << merged.ToString());
      REQUIRE(merged.ok());
      merge.base = w.data();
      merge.a = a.data();
      merge.b = b.data();
      REQUIRE(host.MergeLowRank(merge).ok());
      std::vector<uint8_t> from_gpu(w.size());
      REQUIRE(cudaMemcpy(from_gpu.data(), w_device, w.size(), cudaMemcpyDeviceToHost) ==
              cudaSuccess);
      size_t differing = 0;
      for (size_t i = 0; i < w.size(); ++i) differing += from_gpu[i] != w[i];
      CHECK(differing == 0);
      for (void* p : {w_device, a_device, b_device}) cudaFree(p);
    }
  }
}

TEST_CASE("GPU LoRA merge time on a 4096 x 4096 bf16 weight, rank 16", "[.][gpu][lora]") {
  REQUIRE(DeviceCount() >= 1);
  absl::StatusOr<std::unique_ptr<CudaMemoryOps>> gpu = CudaMemoryOps::Create(0);
  REQUIRE(gpu.ok());
  std::mt19937_64 rng(29);
  const Shape s{4096, 4096, 16};
  const LowRankElement element = LowRankElement::kBfloat16;
  void* w = ToDevice(RandomElements(rng, element, s.m * s.n, 0.5f));
  void* a = ToDevice(RandomElements(rng, element, s.r * s.n, 0.05f));
  void* b = ToDevice(RandomElements(rng, element, s.m * s.r, 0.05f));
  LowRankMerge merge;
  merge.base = w;
  merge.a = a;
  merge.b = b;
  merge.rows = s.m;
  merge.cols = s.n;
  merge.rank = s.r;
  merge.scale = 2.0f;
  merge.element = element;
  REQUIRE((*gpu)->MergeLowRank(merge).ok());  // Warm-up (loads the kernel).
  const absl::Time start = absl::Now();
  REQUIRE((*gpu)->MergeLowRank(merge).ok());
  const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  std::fprintf(stderr,
               "LoRA merge of a 4096 x 4096 bf16 weight, rank 16: %.3f ms (%.0f GB/s of W)\n", ms,
               2.0 * 2 * s.m * s.n / ms / 1e6);
  for (void* p : {w, a, b}) cudaFree(p);
}

}  // namespace
}  // namespace paramsync::agent
