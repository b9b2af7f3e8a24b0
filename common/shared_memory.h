// File: common/shared_memory.h
// -----------------------------------------------------------------------------
// A POSIX shared-memory region mapped into this process. Framework processes
// create regions and place their host tensors in them; their agent opens the same
// regions by name and reads and writes the tensors in place, so a sync copies no
// byte through the client.
//
// Example:
//   ASSIGN_OR_RETURN(SharedMemoryRegion region,
//                    SharedMemoryRegion::Create("/paramsync-42-0", 1 << 20));
//   float* weights = static_cast<float*>(region.data());
#ifndef PARAMSYNC_COMMON_SHARED_MEMORY_H_
#define PARAMSYNC_COMMON_SHARED_MEMORY_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace paramsync {

class SharedMemoryRegion {
 public:
  // Creates a new zero-filled region of `size` bytes. The name is unlinked when
  // the returned object is destroyed; mappings in other processes stay valid
  // until they unmap. ALREADY_EXISTS if the name is taken.
  static absl::StatusOr<SharedMemoryRegion> Create(const std::string& name, size_t size);

  // Maps an existing region, whole. NOT_FOUND if no region has that name.
  static absl::StatusOr<SharedMemoryRegion> Open(const std::string& name);

  // Removes the name of a region whose creator died without doing so; mappings
  // stay valid. OK when the name is already gone.
  static absl::Status Unlink(const std::string& name);

  SharedMemoryRegion(SharedMemoryRegion&& other) noexcept;
  SharedMemoryRegion& operator=(SharedMemoryRegion&& other) noexcept;
  SharedMemoryRegion(const SharedMemoryRegion&) = delete;
  SharedMemoryRegion& operator=(const SharedMemoryRegion&) = delete;
  ~SharedMemoryRegion();

  void* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  SharedMemoryRegion(std::string name, void* data, size_t size, bool owner)
      : name_(std::move(name)), data_(data), size_(size), owner_(owner) {}
  void Release();

  std::string name_;
  void* data_ = nullptr;
  size_t size_ = 0;
  bool owner_ = false;  // Created here: unlink the name on destruction.
};

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_SHARED_MEMORY_H_
