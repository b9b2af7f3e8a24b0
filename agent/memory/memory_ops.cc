#include "agent/memory/memory_ops.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace paramsync::agent {

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

}  // namespace paramsync::agent
