// File: common/float_formats.h
// -----------------------------------------------------------------------------
// bfloat16 and float16 to and from float32, exactly as IEEE 754 converts
// (widening is exact; narrowing rounds to nearest, ties to even, overflows to
// infinity, keeps float16 subnormals). A NaN stays a NaN of its sign with the
// top of its payload; narrowing makes it quiet.
// One definition for host loops and CUDA kernels (the LoRA merge,
// common/low_rank_merge.h), so both give the same bits: no dependencies,
// callable on host and device. The 16-bit values are their bits (uint16_t).
#ifndef PARAMSYNC_COMMON_FLOAT_FORMATS_H_
#define PARAMSYNC_COMMON_FLOAT_FORMATS_H_

#include <cstdint>
#include <cstring>

#include "common/host_device.h"

namespace paramsync {

PARAMSYNC_HOST_DEVICE inline uint32_t FloatBits(float value) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
#endif
}

PARAMSYNC_HOST_DEVICE inline float FloatFromBits(uint32_t bits) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
#endif
}

PARAMSYNC_HOST_DEVICE inline float Bfloat16ToFloat(uint16_t bits) {
  return FloatFromBits(uint32_t{bits} << 16);
}

PARAMSYNC_HOST_DEVICE inline uint16_t FloatToBfloat16(float value) {
  const uint32_t bits = FloatBits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // NaN: quiet, payload's top bits.
  }
  // Adding just under half of the dropped part, plus its last kept bit, carries
  // exactly when the dropped bits exceed half, or equal it with an odd last bit
  // (ties to even); a carry out of the largest finite value gives infinity.
  const uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

PARAMSYNC_HOST_DEVICE inline float Float16ToFloat(uint16_t bits) {
  const uint32_t sign = uint32_t{bits & 0x8000u} << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return FloatFromBits(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    // Zero or subnormal: mantissa x 2^-24, exact in float32.
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return FloatFromBits(sign | FloatBits(magnitude));
  }
  // Rebias the exponent (15 -> 127).
  return FloatFromBits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

PARAMSYNC_HOST_DEVICE inline uint16_t FloatToFloat16(float value) {
  const uint32_t bits = FloatBits(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) {
    return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x1ffu));  // NaN: quiet.
  }
  // 65520 (0x477ff000) is halfway between float16's largest finite value,
  // 65504, whose last bit is odd, and 65536: it and everything above round to
  // infinity.
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  const uint32_t exponent = magnitude >> 23;
  uint32_t kept;
  uint32_t dropped;
  uint32_t half;
  if (exponent >= 113) {
    // Normal in float16 (>= 2^-14): rebias the exponent, drop 13 mantissa bits.
    kept = (magnitude - (112u << 23)) >> 13;
    dropped = magnitude & 0x1fffu;
    half = 0x1000u;
  } else {
    // A float16 subnormal (or zero): the value in units of 2^-24 is the
    // 24-bit significand shifted right by 126 - exponent (>= 14); 25 or more
    // leaves less than half a unit, which rounds to zero.
    const uint32_t shift = 126 - exponent;
    if (exponent == 0 || shift >= 25) return sign;
    const uint32_t significand = (magnitude & 0x7fffffu) | 0x800000u;
    kept = significand >> shift;
    dropped = significand & ((1u << shift) - 1);
    half = 1u << (shift - 1);
  }
  // A carry out of the mantissa moves to the next exponent, which is right
  // (the largest subnormal rounds up to the smallest normal).
  if (dropped > half || (dropped == half && (kept & 1u) != 0)) ++kept;
  return static_cast<uint16_t>(sign | kept);
}

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_FLOAT_FORMATS_H_
