#include "common/tensor_digest.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/digest_mix.h"
#include "common/tensor_box.h"

namespace paramsync {
namespace {

template <typename Bits>
uint64_t DigestRows(const DigestBlock& block, const char* data) {
  uint64_t sum = 0;
  for (uint64_t r = 0; r < block.rows; ++r) {
    const char* row = data + (block.offset + r * block.pitch) * sizeof(Bits);
    uint64_t counter = DigestCounter(block.first_index + r * block.index_pitch);
    for (uint64_t k = 0; k < block.run; ++k) {
      Bits bits;
      std::memcpy(&bits, row + k * sizeof(Bits), sizeof(Bits));  // Any alignment.
      sum += DigestTermAt(bits, counter);
      counter += kDigestCounterStep;
    }
  }
  return sum;
}

}  // namespace

absl::StatusOr<std::vector<DigestBlock>> PlanDigest(const DigestRegion& region) {
  const int size = region.element_size;
  if (size != 1 && size != 2 && size != 4 && size != 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("digests take elements of 1, 2, 4 or 8 bytes, not ", size));
  }
  // The region is a box copy from the tensor to the parameter, counted in
  // elements: its blocks' offsets are tensor elements and parameter indices.
  const BoxCopySpec as_copy{region.shape,        region.start,  region.global_shape,
                            region.global_start, region.extent, /*element_size=*/1};
  absl::StatusOr<std::vector<BoxCopyBlock>> copy = PlanBoxCopy(as_copy);
  if (!copy.ok()) return copy.status();
  std::vector<DigestBlock> blocks;
  blocks.reserve(copy->size());
  for (const BoxCopyBlock& b : *copy) {
    blocks.push_back({b.src_offset, b.dst_offset, b.rows, b.run_bytes, b.src_pitch, b.dst_pitch});
  }
  return blocks;
}

uint64_t DigestBlocksOnHost(absl::Span<const DigestBlock> blocks, const void* data,
                            int element_size) {
  const char* bytes = static_cast<const char*>(data);
  uint64_t sum = 0;
  for (const DigestBlock& block : blocks) {
    switch (element_size) {
      case 1:
        sum += DigestRows<uint8_t>(block, bytes);
        break;
      case 2:
        sum += DigestRows<uint16_t>(block, bytes);
        break;
      case 4:
        sum += DigestRows<uint32_t>(block, bytes);
        break;
      default:
        sum += DigestRows<uint64_t>(block, bytes);
        break;
    }
  }
  return sum;
}

absl::StatusOr<uint64_t> DigestOnHost(const DigestRegion& region, const void* data, size_t bytes) {
  absl::StatusOr<std::vector<DigestBlock>> blocks = PlanDigest(region);
  if (!blocks.ok()) return blocks.status();
  const size_t expected = BoxBytes(region.shape, region.element_size);
  if (expected != bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("digest of a tensor of ", expected, " bytes given a buffer of ", bytes));
  }
  return DigestBlocksOnHost(*blocks, data, region.element_size);
}

}  // namespace paramsync
