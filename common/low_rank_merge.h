// File: common/low_rank_merge.h
// -----------------------------------------------------------------------------
// The arithmetic of a LoRA merge, W += scale * B @ A, in one place for the host
// loop (agent/memory/memory_ops.cc) and the CUDA kernel
// (agent/gpu/lora_merge_kernel.cu): a trainer's merged weights must not depend
// on whether its agent serves host memory or a GPU, so both compute every
// element the same way, to the bit. No dependencies, callable on host and
// device.
//
// Element (i, j) of W [rows, cols] becomes, in float32:
//   acc = W[i][j]
//   for k = 0 .. rank-1:  acc = fma(scale * B[i][k], A[k][j], acc)
// each product scale * B[i][k] rounded on its own, each fma rounded once, in
// order of k; then acc rounded once to W's type (common/float_formats.h). A
// NaN result is stored as the canonical quiet NaN, because hosts and GPUs
// produce different NaNs (sign, payload) from the same operands. IEEE 754
// leaves no other freedom, so host and GPU agree bit for bit.
#ifndef PARAMSYNC_COMMON_LOW_RANK_MERGE_H_
#define PARAMSYNC_COMMON_LOW_RANK_MERGE_H_

#include <cmath>
#include <cstdint>

#include "common/float_formats.h"

namespace paramsync {

// The element type of all three matrices.
enum class LowRankElement : uint32_t { kFloat32 = 0, kFloat16 = 1, kBfloat16 = 2 };

PARAMSYNC_HOST_DEVICE inline uint32_t LowRankElementSize(LowRankElement element) {
  return element == LowRankElement::kFloat32 ? 4 : 2;
}

// W [rows, cols] += scale * B [rows, rank] @ A [rank, cols], in place: all
// three row-major and contiguous, of `element`, in the same memory.
struct LowRankMerge {
  void* base = nullptr;     // W
  const void* a = nullptr;  // A
  const void* b = nullptr;  // B
  uint64_t rows = 0;
  uint64_t cols = 0;
  uint64_t rank = 0;
  float scale = 0;  // LoraSpec.scale (alpha / r) rounded to float32.
  LowRankElement element = LowRankElement::kFloat32;
};

// Whether LoraSpec.scale `scale` can scale a merge: finite and non-zero, also
// rounded to the float32 the merge computes in. The coordinator checks it at
// registration, the agent again before it merges (host code).
inline bool MergeableLoraScale(double scale) {
  const float rounded = static_cast<float>(scale);
  return std::isfinite(scale) && std::isfinite(rounded) && rounded != 0;
}

// The two roundings of a step. On the GPU the intrinsics: a plain `*` there
// may be contracted into a neighbouring fma, which would skip the product's
// rounding.
PARAMSYNC_HOST_DEVICE inline float LowRankProduct(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

PARAMSYNC_HOST_DEVICE inline float LowRankFma(float a, float b, float c) {
#ifdef __CUDA_ARCH__
  return __fmaf_rn(a, b, c);
#else
  return std::fmaf(a, b, c);
#endif
}

// How each element type is stored and converted.
struct Float32Format {
  using Storage = uint32_t;
  static constexpr Storage kCanonicalNan = 0x7fc00000u;
  PARAMSYNC_HOST_DEVICE static float ToFloat(Storage bits) { return FloatFromBits(bits); }
  PARAMSYNC_HOST_DEVICE static Storage FromFloat(float value) { return FloatBits(value); }
};

struct Float16Format {
  using Storage = uint16_t;
  static constexpr Storage kCanonicalNan = 0x7e00u;
  PARAMSYNC_HOST_DEVICE static float ToFloat(Storage bits) { return Float16ToFloat(bits); }
  PARAMSYNC_HOST_DEVICE static Storage FromFloat(float value) { return FloatToFloat16(value); }
};

struct Bfloat16Format {
  using Storage = uint16_t;
  static constexpr Storage kCanonicalNan = 0x7fc0u;
  PARAMSYNC_HOST_DEVICE static float ToFloat(Storage bits) { return Bfloat16ToFloat(bits); }
  PARAMSYNC_HOST_DEVICE static Storage FromFloat(float value) { return FloatToBfloat16(value); }
};

// Merges element (i, j) of `merge` (i < rows, j < cols) in place, as the file
// comment says. The caller checked `merge` (element-aligned pointers, W apart
// from A and B).
template <typename Format>
PARAMSYNC_HOST_DEVICE inline void MergeLowRankElement(const LowRankMerge& merge, uint64_t i,
                                                      uint64_t j) {
  using Storage = typename Format::Storage;
  Storage* w = static_cast<Storage*>(merge.base) + i * merge.cols + j;
  const Storage* a = static_cast<const Storage*>(merge.a) + j;
  const Storage* b = static_cast<const Storage*>(merge.b) + i * merge.rank;
  float acc = Format::ToFloat(*w);
  for (uint64_t k = 0; k < merge.rank; ++k) {
    acc = LowRankFma(LowRankProduct(merge.scale, Format::ToFloat(b[k])),
                     Format::ToFloat(a[k * merge.cols]), acc);
  }
  const bool nan = (FloatBits(acc) & 0x7fffffffu) > 0x7f800000u;
  *w = nan ? Format::kCanonicalNan : Format::FromFloat(acc);
}

// Returns visit(Format{}) for the Format of `element` (host code: picks the
// instantiation of a loop or kernel).
template <typename Visitor>
decltype(auto) VisitLowRankFormat(LowRankElement element, Visitor&& visit) {
  switch (element) {
    case LowRankElement::kFloat16:
      return visit(Float16Format{});
    case LowRankElement::kBfloat16:
      return visit(Bfloat16Format{});
    case LowRankElement::kFloat32:
      break;
  }
  return visit(Float32Format{});
}

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_LOW_RANK_MERGE_H_
