#include "agent/memory/memory_ops.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace paramsync::agent {

absl::StatusOr<std::unique_ptr<StagingBuffer>> HostMemoryOps::Allocate(size_t bytes) {
  void* data = std::malloc(bytes == 0 ? 1 : bytes);
  if (data == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a ", bytes, "-byte host staging buffer"));
  }
  return std::make_unique<StagingBuffer>(data, bytes, [](void* p) { std::free(p); });
}

absl::Status HostMemoryOps::Copy(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
  return absl::OkStatus();
}

absl::Status HostMemoryOps::CopySlice(const SliceSpec& spec, const void* whole, void* slice,
                                      size_t slice_bytes) {
  return paramsync::CopySlice(spec, whole, slice, slice_bytes);
}

}  // namespace paramsync::agent
