#include "agent/memory/memory_ops.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace paramsync::agent {
namespace {

// The bound CheckLowRankMerge puts on each matrix (as common/dtype.h's
// TensorBytes does on tensors): no product of sizes overflows below it.
constexpr uint64_t kMaxMergeElements = uint64_t{1} << 48;

uint64_t BoundedProduct(uint64_t x, uint64_t y) {
  return y != 0 && x > kMaxMergeElements / y ? kMaxMergeElements + 1 : x * y;
}

}  // namespace

absl::Status CheckLowRankMerge(const LowRankMerge& merge) {
  if (merge.element != LowRankElement::kFloat32 && merge.element != LowRankElement::kFloat16 &&
      merge.element != LowRankElement::kBfloat16) {
    return absl::InvalidArgumentError(absl::StrCat("LowRankMerge.element is ",
                                                   static_cast<uint32_t>(merge.element),
                                                   "; accepted: kFloat32, kFloat16, kBfloat16"));
  }
  if (!std::isfinite(merge.scale) || merge.scale == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LowRankMerge.scale is ", merge.scale, "; accepted: finite and non-zero"));
  }
  const uint64_t size = LowRankElementSize(merge.element);
  struct Matrix {
    const char* field;
    const void* data;
    uint64_t elements;
  };
  const Matrix matrices[] = {{"base", merge.base, BoundedProduct(merge.rows, merge.cols)},
                             {"a", merge.a, BoundedProduct(merge.rank, merge.cols)},
                             {"b", merge.b, BoundedProduct(merge.rows, merge.rank)}};
  for (const Matrix& m : matrices) {
    if (m.elements > kMaxMergeElements) {
      return absl::InvalidArgumentError(absl::StrCat(
          "LowRankMerge.", m.field, " of W [rows, cols], A [rank, cols], B [rows, rank] with rows ",
          merge.rows, ", cols ", merge.cols, ", rank ", merge.rank,
          " has over 2^48 elements; accepted: at most 2^48"));
    }
    if (m.data == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("LowRankMerge.", m.field, " is null"));
    }
    if (reinterpret_cast<uintptr_t>(m.data) % size != 0) {
      return absl::InvalidArgumentError(absl::StrCat("LowRankMerge.", m.field, " is at address 0x",
                                                     absl::Hex(reinterpret_cast<uintptr_t>(m.data)),
                                                     "; accepted: aligned to its ", size,
                                                     "-byte elements"));
    }
  }
  const auto begin = [](const Matrix& m) { return reinterpret_cast<uintptr_t>(m.data); };
  const uint64_t base_bytes = matrices[0].elements * size;
  for (const Matrix& m : {matrices[1], matrices[2]}) {
    const uint64_t bytes = m.elements * size;
    if (bytes > 0 && base_bytes > 0 && begin(m) < begin(matrices[0]) + base_bytes &&
        begin(matrices[0]) < begin(m) + bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "LowRankMerge.", m.field, " overlaps LowRankMerge.base; accepted: W apart from A and B"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<StagingBuffer>> MemoryOps::Allocate(size_t bytes) {
  absl::StatusOr<void*> data = AllocateRaw(bytes);
  if (!data.ok()) return data.status();
  const size_t live = live_ += bytes;
  size_t peak = peak_;
  while (live > peak && !peak_.compare_exchange_weak(peak, live)) {
  }
  return std::make_unique<StagingBuffer>(*data, bytes, [this, bytes](void* p) {
    Free(p);
    live_ -= bytes;
  });
}

size_t MemoryOps::TakePeakBytes() { return peak_.exchange(live_); }

absl::Status MemoryOps::CopySlice(const SliceSpec& spec, const void* whole, void* slice,
                                  size_t slice_bytes) {
  absl::StatusOr<SliceGeometry> g = GeometryOf(spec, slice_bytes);
  if (!g.ok()) return g.status();
  // Every row of the tensor gives one run of the slice, packed in `slice`.
  const BoxCopyBlock block{g->first_byte, 0, g->rows, g->run_bytes, g->row_bytes, g->run_bytes};
  return CopyBlocks({&block, 1}, whole, slice);
}

absl::Status MemoryOps::CopyBox(const BoxCopySpec& spec, const void* src, void* dst) {
  absl::StatusOr<std::vector<BoxCopyBlock>> blocks = PlanBoxCopy(spec);
  if (!blocks.ok()) return blocks.status();
  return CopyBlocks(*blocks, src, dst);
}

absl::StatusOr<std::vector<uint64_t>> MemoryOps::Digest(absl::Span<const PlannedDigest> planned) {
  std::vector<uint64_t> digests(planned.size(), 0);
  absl::Status status = DigestBlocks(planned, absl::MakeSpan(digests));
  if (!status.ok()) return status;
  return digests;
}

absl::Status MemoryOps::MergeLowRank(const LowRankMerge& merge) {
  if (absl::Status checked = CheckLowRankMerge(merge); !checked.ok()) return checked;
  if (merge.rows == 0 || merge.cols == 0) return absl::OkStatus();
  return MergeLowRankChecked(merge);
}

absl::StatusOr<void*> HostMemoryOps::AllocateRaw(size_t bytes) {
  void* data = std::malloc(bytes == 0 ? 1 : bytes);
  if (data == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a ", bytes, "-byte host staging buffer"));
  }
  return data;
}

void HostMemoryOps::Free(void* data) { std::free(data); }

absl::Status HostMemoryOps::Copy(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
  return absl::OkStatus();
}

absl::Status HostMemoryOps::CopyBlocks(absl::Span<const BoxCopyBlock> blocks, const void* src,
                                       void* dst) {
  CopyBlocksOnHost(blocks, src, dst);
  return absl::OkStatus();
}

absl::Status HostMemoryOps::DigestBlocks(absl::Span<const PlannedDigest> planned,
                                         absl::Span<uint64_t> digests) {
  for (size_t i = 0; i < planned.size(); ++i) {
    digests[i] = DigestBlocksOnHost(planned[i].blocks, planned[i].data, planned[i].element_size);
  }
  return absl::OkStatus();
}

absl::Status HostMemoryOps::MergeLowRankChecked(const LowRankMerge& merge) {
  VisitLowRankFormat(merge.element, [&merge](auto format) {
    using Format = decltype(format);
    for (uint64_t i = 0; i < merge.rows; ++i) {
      for (uint64_t j = 0; j < merge.cols; ++j) MergeLowRankElement<Format>(merge, i, j);
    }
  });
  return absl::OkStatus();
}

}  // namespace paramsync::agent
