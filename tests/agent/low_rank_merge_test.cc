// MemoryOps::MergeLowRank's host loop (HostMemoryOps) and the conversions it
// rounds with (common/float_formats.h), against references written apart from
// them: GCC's _Float16 for float16, the nearer of two neighbours (in double)
// for bfloat16, and a plain loop of the merge. The GPU kernel is compared
// with this host loop in tests/gpu/lora_merge_kernel_test.cc.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "agent/memory/memory_ops.h"
#include "common/float_formats.h"

namespace paramsync::agent {
namespace {

float FromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

uint32_t BitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

uint16_t HalfBits(_Float16 value) {
  uint16_t bits;
  std::memcpy(&bits, &value, 2);
  return bits;
}

_Float16 HalfFromBits(uint16_t bits) {
  _Float16 value;
  std::memcpy(&value, &bits, 2);
  return value;
}

// bfloat16 by definition: of the two bfloat16 values around `value` (its
// float32 bits cut to 16, and the next one up in magnitude), the nearer, the
// even one on a tie; beyond the largest finite value's rounding range, infinity.
uint16_t ReferenceBfloat16(float value) {
  const uint32_t bits = BitsOf(value);
  if (std::isinf(value)) return static_cast<uint16_t>(bits >> 16);
  const uint16_t below = static_cast<uint16_t>(bits >> 16);
  const uint16_t above = static_cast<uint16_t>(below + 1);
  const double low = std::fabs(static_cast<double>(FromBits(uint32_t{below} << 16)));
  // The next magnitude up from the largest finite value is 2^128 (infinity's bits).
  const double high = (above & 0x7fff) == 0x7f80
                          ? std::ldexp(1.0, 128)
                          : std::fabs(static_cast<double>(FromBits(uint32_t{above} << 16)));
  const double magnitude = std::fabs(static_cast<double>(value));
  if (magnitude - low < high - magnitude) return below;
  if (magnitude - low > high - magnitude) return above;
  return (below & 1) == 0 ? below : above;
}

bool IsNan(float value) { return value != value; }

TEST_CASE("bfloat16 narrowing rounds to nearest, ties to even, like the definition",
          "[low_rank_merge]") {
  // Every 61st float32 bit pattern (NaNs aside): all exponents, many mantissas.
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 61) {
    const float value = FromBits(static_cast<uint32_t>(bits));
    if (IsNan(value)) continue;
    const uint16_t got = FloatToBfloat16(value);
    if (got != ReferenceBfloat16(value)) {
      FAIL("float32 bits " << std::hex << bits << ": got " << got << ", want "
                           << ReferenceBfloat16(value));
    }
  }
  struct Case {
    uint32_t bits;
    uint16_t want;
  };
  const Case cases[] = {
      {0x3f808000, 0x3f80},  // 1 + 2^-8: a tie, 1.0 is even.
      {0x3f818000, 0x3f82},  // A tie above an odd value rounds up.
      {0x3f808001, 0x3f81},  // Just above a tie.
      {0x3f80ffff, 0x3f81},  // Just below the next value.
      {0xbf808000, 0xbf80},  // Negative ties as positive.
      {0x7f7fffff, 0x7f80},  // The largest float32 rounds to infinity.
      {0x7f7f7fff, 0x7f7f},  // Just below the tie with infinity.
      {0x00008000, 0x0000},  // Subnormal tie down to zero.
      {0x00018000, 0x0002},  // Subnormal tie up to even.
      {0x80000000, 0x8000},  // -0.
      {0x7f800000, 0x7f80},  // Infinity.
  };
  for (const Case& c : cases) {
    INFO("float32 bits " << std::hex << c.bits);
    CHECK(FloatToBfloat16(FromBits(c.bits)) == c.want);
  }
  // NaNs stay NaNs of their sign, quiet.
  CHECK(FloatToBfloat16(FromBits(0x7f800001)) == 0x7fc0);
  CHECK(FloatToBfloat16(FromBits(0xffa00000)) == 0xffe0);
  // Widening is exact: bfloat16 is float32's top half.
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    CHECK(BitsOf(Bfloat16ToFloat(static_cast<uint16_t>(bits))) == bits << 16);
  }
}

TEST_CASE("float16 conversions equal the compiler's IEEE ones", "[low_rank_merge]") {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float want = static_cast<float>(HalfFromBits(static_cast<uint16_t>(bits)));
    const float got = Float16ToFloat(static_cast<uint16_t>(bits));
    if (IsNan(want)) {
      CHECK(IsNan(got));
      CHECK(std::signbit(got) == std::signbit(want));
    } else if (BitsOf(got) != BitsOf(want)) {
      FAIL("float16 bits " << std::hex << bits << ": got " << BitsOf(got) << ", want "
                           << BitsOf(want));
    }
  }
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 61) {
    const float value = FromBits(static_cast<uint32_t>(bits));
    const uint16_t got = FloatToFloat16(value);
    const uint16_t want = HalfBits(static_cast<_Float16>(value));
    if (IsNan(value)) {
      if ((got & 0x7e00) != 0x7e00 || (got & 0x8000) != (want & 0x8000)) {
        FAIL("float32 NaN bits " << std::hex << bits << " narrowed to " << got);
      }
    } else if (got != want) {
      FAIL("float32 bits " << std::hex << bits << ": got " << got << ", want " << want);
    }
  }
  // The edges: overflow, the subnormal range, ties.
  for (float value : {65504.0f, 65519.99f, 65520.0f, 1e9f, 6.1035156e-05f, 6.1e-05f, 5.9604645e-08f,
                      2.9802322e-08f, 2.9802326e-08f, 8.940697e-08f, 1.0009766f, 1.0014648f,
                      -1.0014648f, 0.0f, -0.0f}) {
    INFO("value " << value);
    CHECK(FloatToFloat16(value) == HalfBits(static_cast<_Float16>(value)));
  }
}

// A matrix of one element type: its bits and their values.
struct Matrix {
  LowRankElement element;
  std::vector<uint32_t> bits;  // float32 bits, or 16-bit values.

  float Value(size_t i) const {
    switch (element) {
      case LowRankElement::kFloat16:
        return static_cast<float>(HalfFromBits(static_cast<uint16_t>(bits[i])));
      case LowRankElement::kBfloat16:
        return FromBits(bits[i] << 16);
      case LowRankElement::kFloat32:
        break;
    }
    return FromBits(bits[i]);
  }

  // The bytes MemoryOps works on.
  std::vector<uint8_t> Bytes() const {
    std::vector<uint8_t> out;
    for (uint32_t b : bits) {
      const uint8_t* p = reinterpret_cast<const uint8_t*>(&b);
      out.insert(out.end(), p, p + (element == LowRankElement::kFloat32 ? 4 : 2));
    }
    return out;
  }
};

// The reference's rounding of a float32 result to `element`.
uint32_t ReferenceRound(float value, LowRankElement element) {
  if (IsNan(value)) {
    return element == LowRankElement::kFloat32   ? 0x7fc00000u
           : element == LowRankElement::kFloat16 ? 0x7e00u
                                                 : 0x7fc0u;
  }
  switch (element) {
    case LowRankElement::kFloat16:
      return HalfBits(static_cast<_Float16>(value));
    case LowRankElement::kBfloat16:
      return ReferenceBfloat16(value);
    case LowRankElement::kFloat32:
      break;
  }
  return BitsOf(value);
}

// W [m, n] += scale * B [m, r] @ A [r, n] as the contract states it, plainly.
Matrix ReferenceMerge(const Matrix& w, const Matrix& a, const Matrix& b, uint64_t m, uint64_t n,
                      uint64_t r, float scale) {
  Matrix out{w.element, {}};
  for (uint64_t i = 0; i < m; ++i) {
    for (uint64_t j = 0; j < n; ++j) {
      float acc = w.Value(i * n + j);
      for (uint64_t k = 0; k < r; ++k) {
        const float product = scale * b.Value(i * r + k);
        acc = std::fmaf(product, a.Value(k * n + j), acc);
      }
      out.bits.push_back(ReferenceRound(acc, w.element));
    }
  }
  return out;
}

// `merge` of W, A, B on the host; returns W's bytes after.
std::vector<uint8_t> HostMerge(const Matrix& w, const Matrix& a, const Matrix& b, uint64_t m,
                               uint64_t n, uint64_t r, float scale) {
  std::vector<uint8_t> w_bytes = w.Bytes(), a_bytes = a.Bytes(), b_bytes = b.Bytes();
  LowRankMerge merge;
  merge.base = w_bytes.data();
  merge.a = a_bytes.data();
  merge.b = b_bytes.data();
  merge.rows = m;
  merge.cols = n;
  merge.rank = r;
  merge.scale = scale;
  merge.element = w.element;
  HostMemoryOps memory;
  const absl::Status status = memory.MergeLowRank(merge);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return w_bytes;
}

// Random values of `element` around `magnitude`, a few of them special
// (zero, infinity, NaN, subnormal) when `specials`.
Matrix RandomMatrix(std::mt19937_64& rng, LowRankElement element, size_t count, float magnitude,
                    bool specials) {
  std::normal_distribution<float> normal(0.0f, magnitude);
  Matrix m{element, {}};
  for (size_t i = 0; i < count; ++i) {
    float value = normal(rng);
    if (specials && rng() % 50 == 0) {
      const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, 7e-8f};
      value = special[rng() % 7];
    }
    m.bits.push_back(ReferenceRound(value, element));
  }
  return m;
}

const LowRankElement kElements[] = {LowRankElement::kFloat32, LowRankElement::kFloat16,
                                    LowRankElement::kBfloat16};

TEST_CASE("The host merge equals the plain reference, bit for bit", "[low_rank_merge]") {
  std::mt19937_64 rng(7);
  struct Shape {
    uint64_t m, n, r;
  };
  const Shape shapes[] = {{1, 1, 1},   {3, 5, 1},    {7, 13, 4},
                          {16, 16, 8}, {33, 65, 16}, {5, 300, 64}};
  for (LowRankElement element : kElements) {
    for (const Shape& s : shapes) {
      for (bool specials : {false, true}) {
        const Matrix w = RandomMatrix(rng, element, s.m * s.n, 0.5f, specials);
        const Matrix a = RandomMatrix(rng, element, s.r * s.n, 0.05f, specials);
        const Matrix b = RandomMatrix(rng, element, s.m * s.r, 0.05f, specials);
        const float scale = 16.0f / static_cast<float>(s.r) * 1.37f;
        INFO("element " << static_cast<int>(element) << ", m " << s.m << ", n " << s.n << ", r "
                        << s.r << (specials ? ", with specials" : ""));
        CHECK(HostMerge(w, a, b, s.m, s.n, s.r, scale) ==
              ReferenceMerge(w, a, b, s.m, s.n, s.r, scale).Bytes());
      }
    }
  }
}

TEST_CASE("The merge fuses each step, rounds each product, and rounds to the type once",
          "[low_rank_merge]") {
  const float tiny = std::ldexp(1.0f, -12);
  // fma(1 + 2^-12, 1 + 2^-12, -1) is 2^-11 + 2^-24 exactly; a separate multiply
  // would round the product to 1 + 2^-11 first and give 2^-11.
  Matrix w{LowRankElement::kFloat32, {BitsOf(-1.0f)}};
  Matrix a{LowRankElement::kFloat32, {BitsOf(1.0f + tiny)}};
  Matrix b{LowRankElement::kFloat32, {BitsOf(1.0f + tiny)}};
  CHECK(HostMerge(w, a, b, 1, 1, 1, 1.0f) ==
        Matrix{LowRankElement::kFloat32, {BitsOf(std::ldexp(1.0f, -11) + std::ldexp(1.0f, -24))}}
            .Bytes());
  // scale * B is rounded on its own: with A = 1 the same numbers give 2^-11.
  a.bits = {BitsOf(1.0f)};
  CHECK(HostMerge(w, a, b, 1, 1, 1, 1.0f + tiny) ==
        Matrix{LowRankElement::kFloat32, {BitsOf(std::ldexp(1.0f, -11))}}.Bytes());
  // bfloat16 W = 1 plus two steps of 0.75 * 2^-8 each: accumulated in float32
  // that is 1 + 1.5 * 2^-8, which rounds up to 1 + 2^-7 (0x3f81); rounding
  // after each step would stay at 1.0 (0x3f80).
  const uint16_t step = FloatToBfloat16(0.75f * std::ldexp(1.0f, -8));
  REQUIRE(Bfloat16ToFloat(step) == 0.75f * std::ldexp(1.0f, -8));
  const Matrix w16{LowRankElement::kBfloat16, {0x3f80}};
  const Matrix a16{LowRankElement::kBfloat16, {step, step}};
  const Matrix b16{LowRankElement::kBfloat16, {0x3f80, 0x3f80}};
  CHECK(HostMerge(w16, a16, b16, 1, 1, 2, 1.0f) ==
        Matrix{LowRankElement::kBfloat16, {0x3f81}}.Bytes());
  // A NaN result is the canonical quiet NaN, whatever NaN the host made.
  const Matrix inf_w{LowRankElement::kBfloat16, {0xff80}};  // -inf + inf * 1.
  const Matrix inf_a{LowRankElement::kBfloat16, {0x7f80}};
  const Matrix one_b{LowRankElement::kBfloat16, {0x3f80}};
  CHECK(HostMerge(inf_w, inf_a, one_b, 1, 1, 1, 1.0f) ==
        Matrix{LowRankElement::kBfloat16, {0x7fc0}}.Bytes());
}

TEST_CASE("Merges MemoryOps cannot do are refused, naming the field", "[low_rank_merge]") {
  HostMemoryOps memory;
  alignas(8) uint8_t bytes[64] = {};
  LowRankMerge ok;
  ok.base = bytes;
  ok.a = bytes + 16;
  ok.b = bytes + 32;
  ok.rows = 2;
  ok.cols = 2;
  ok.rank = 2;
  ok.scale = 2.0f;
  ok.element = LowRankElement::kFloat32;
  REQUIRE(memory.MergeLowRank(ok).ok());
  auto refused = [&](LowRankMerge merge, const std::string& field) {
    const absl::Status status = memory.MergeLowRank(merge);
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(status.message()).find(field) != std::string::npos);
  };
  LowRankMerge bad = ok;
  bad.scale = 0.0f;
  refused(bad, "scale");
  bad.scale = INFINITY;
  refused(bad, "scale");
  bad = ok;
  bad.element = static_cast<LowRankElement>(7);
  refused(bad, "element");
  bad = ok;
  bad.a = nullptr;
  refused(bad, "LowRankMerge.a is null");
  bad = ok;
  bad.b = bytes + 34;
  refused(bad, "LowRankMerge.b is at address");
  bad = ok;
  bad.a = bytes + 8;  // Inside W's 16 bytes.
  refused(bad, "LowRankMerge.a overlaps");
  bad = ok;
  bad.rows = uint64_t{1} << 47;
  bad.cols = 3;
  refused(bad, "2^48");
  // An empty W is nothing to do, even with an empty adapter.
  bad = ok;
  bad.rows = 0;
  bad.rank = 0;
  CHECK(memory.MergeLowRank(bad).ok());
  // float16 and bfloat16 need 2-byte alignment only.
  bad = ok;
  bad.element = LowRankElement::kBfloat16;
  bad.b = bytes + 34;
  CHECK(memory.MergeLowRank(bad).ok());
}

}  // namespace
}  // namespace paramsync::agent
