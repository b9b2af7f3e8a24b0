// File: common/digest_mix.h
// -----------------------------------------------------------------------------
// The per-element term of a tensor digest (common/tensor_digest.h), in one
// place for the host loop and the CUDA kernel (agent/gpu/digest_kernel.cu): no
// dependencies, callable on host and device.
//
// A digest is the wrapping 64-bit sum, over a region's elements, of
// DigestTerm(element bits, element index), the index being row-major in the
// full (unsharded) parameter. A sum does not depend on order, so the digests
// of the parts of a partition add up to the digest of the whole, wherever and
// however each part was computed.
#ifndef PARAMSYNC_COMMON_DIGEST_MIX_H_
#define PARAMSYNC_COMMON_DIGEST_MIX_H_

#include <cstdint>

#include "common/host_device.h"

namespace paramsync {

// splitmix64's counter increment (2^64 / golden ratio): consecutive element
// indices give counters this far apart.
inline constexpr uint64_t kDigestCounterStep = 0x9e3779b97f4a7c15ULL;

// splitmix64's output function: a bijection in which every output bit depends
// on every input bit.
PARAMSYNC_HOST_DEVICE inline uint64_t SplitMix64Finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The counter of element `index`; +1 so that a zero element at index 0 adds
// a non-zero term. Linear in `index`: loops advance it by kDigestCounterStep.
PARAMSYNC_HOST_DEVICE inline uint64_t DigestCounter(uint64_t index) {
  return (index + 1) * kDigestCounterStep;
}

// The term of an element whose bits (zero-extended) are `bits`, at `counter`:
// splitmix64's output at the counter, offset by the bits. A changed, moved or
// swapped element changes the sum by a pseudo-random amount.
PARAMSYNC_HOST_DEVICE inline uint64_t DigestTermAt(uint64_t bits, uint64_t counter) {
  return SplitMix64Finalize(counter + bits);
}

PARAMSYNC_HOST_DEVICE inline uint64_t DigestTerm(uint64_t bits, uint64_t index) {
  return DigestTermAt(bits, DigestCounter(index));
}

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_DIGEST_MIX_H_
