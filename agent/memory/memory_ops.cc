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

absl::Status HostMemoryOps::CopySlice(const SliceSpec& spec, const void* whole, void* slice,
                                      size_t slice_bytes) {
  return paramsync::CopySlice(spec, whole, slice, slice_bytes);
}

absl::Status HostMemoryOps::CopyBox(const BoxCopySpec& spec, const void* src, void* dst) {
  return CopyBoxOnHost(spec, src, BoxBytes(spec.src_shape, spec.element_size), dst,
                       BoxBytes(spec.dst_shape, spec.element_size));
}

}  // namespace paramsync::agent
