// File: agent/memory/memory_ops.h
// -----------------------------------------------------------------------------
// The memory a sync's bytes live in on this agent (host memory for CPU agents,
// one GPU's memory for GPU agents) and the few operations the data path needs
// there: staging buffers, whole copies, TP slices and boxes (as pitched 2-D
// block copies), digests of tensor regions (sync validation, computed where
// the tensors live), and LoRA merges into base weights. Everything above the
// transports is written against this interface, so it is the same code on CPU
// and GPU.
#ifndef PARAMSYNC_AGENT_MEMORY_MEMORY_OPS_H_
#define PARAMSYNC_AGENT_MEMORY_MEMORY_OPS_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/low_rank_merge.h"
#include "common/tensor_box.h"
#include "common/tensor_digest.h"
#include "common/tensor_slice.h"

namespace paramsync::agent {

// An owned buffer in some memory; frees itself.
class StagingBuffer {
 public:
  StagingBuffer(void* data, size_t size, std::function<void(void*)> release)
      : data_(data), size_(size), release_(std::move(release)) {}
  StagingBuffer(const StagingBuffer&) = delete;
  StagingBuffer& operator=(const StagingBuffer&) = delete;
  ~StagingBuffer() {
    if (data_ != nullptr) release_(data_);
  }

  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* const data_;
  const size_t size_;
  const std::function<void(void*)> release_;
};

// A region of a tensor in this memory to digest, as blocks of the tensor at
// `data` (common/tensor_digest.h's PlanDigest, which checked the boxes; the
// caller checked that the tensor holds its shape's bytes): planned once, then
// digested as often as needed while the tensor stays where it is.
struct PlannedDigest {
  const void* data = nullptr;
  int element_size = 1;
  std::vector<DigestBlock> blocks;
};

// OK when `merge` is one MemoryOps::MergeLowRank can do; else
// INVALID_ARGUMENT naming the field: a known element type, W, A and B not
// null and aligned to their elements, W's bytes apart from A's and B's (an
// in-place update reading what it writes would depend on the order of the
// work), sizes within 2^48 elements, scale finite and non-zero.
absl::Status CheckLowRankMerge(const LowRankMerge& merge);

class MemoryOps {
 public:
  virtual ~MemoryOps() = default;

  virtual absl::string_view name() const = 0;

  // A buffer of `bytes` in this memory. RESOURCE_EXHAUSTED when it cannot be had.
  absl::StatusOr<std::unique_ptr<StagingBuffer>> Allocate(size_t bytes);

  // Bytes of staging buffers alive now, and the most alive at once since the
  // last call (which starts the next period at what is alive now): what this
  // agent holds beyond the framework's tensors and the transports' own buffers.
  size_t live_bytes() const { return live_; }
  size_t TakePeakBytes();

  // Copies `bytes` from `src` (this memory, or host memory) to `dst` (this
  // memory); complete when it returns.
  virtual absl::Status Copy(void* dst, const void* src, size_t bytes) = 0;

  // Copies `spec`'s slice of `whole` into `slice`, both in this memory; complete
  // when it returns. INVALID_ARGUMENT as common/tensor_slice.h describes.
  absl::Status CopySlice(const SliceSpec& spec, const void* whole, void* slice, size_t slice_bytes);

  // Copies `spec`'s box from `src` to `dst`, both in this memory and holding
  // exactly their shapes' bytes (the caller checked); complete when it returns.
  // INVALID_ARGUMENT as common/tensor_box.h describes.
  absl::Status CopyBox(const BoxCopySpec& spec, const void* src, void* dst);

  // The digest of each of `planned` (common/tensor_digest.h), in order, all
  // computed at once in this memory; complete when it returns.
  absl::StatusOr<std::vector<uint64_t>> Digest(absl::Span<const PlannedDigest> planned);

  // W += scale * B @ A in place, W, A and B in this memory, with the
  // arithmetic of common/low_rank_merge.h (the same bits in every memory);
  // complete when it returns. INVALID_ARGUMENT as CheckLowRankMerge says.
  absl::Status MergeLowRank(const LowRankMerge& merge);

 protected:
  // The memory itself, for Allocate(): at least `bytes` (and at least one).
  virtual absl::StatusOr<void*> AllocateRaw(size_t bytes) = 0;
  virtual void Free(void* data) = 0;
  // Slices and boxes both come down to pitched 2-D block copies inside this
  // memory; complete when it returns.
  virtual absl::Status CopyBlocks(absl::Span<const BoxCopyBlock> blocks, const void* src,
                                  void* dst) = 0;
  // Sets digests[i] to the digest of planned[i]'s blocks; complete when it
  // returns. Every region at once: one pass on a GPU.
  virtual absl::Status DigestBlocks(absl::Span<const PlannedDigest> planned,
                                    absl::Span<uint64_t> digests) = 0;
  // MergeLowRank() of a checked `merge`; complete when it returns.
  virtual absl::Status MergeLowRankChecked(const LowRankMerge& merge) = 0;

 private:
  std::atomic<size_t> live_{0};
  std::atomic<size_t> peak_{0};
};

// Host memory: heap staging buffers, memcpy, loops. Not final: tests make
// its allocations fail (tests/agent/lora_merger_test.cc).
class HostMemoryOps : public MemoryOps {
 public:
  absl::string_view name() const override { return "host"; }
  absl::Status Copy(void* dst, const void* src, size_t bytes) override;

 protected:
  absl::StatusOr<void*> AllocateRaw(size_t bytes) override;
  void Free(void* data) override;
  absl::Status CopyBlocks(absl::Span<const BoxCopyBlock> blocks, const void* src,
                          void* dst) override;
  absl::Status DigestBlocks(absl::Span<const PlannedDigest> planned,
                            absl::Span<uint64_t> digests) override;
  absl::Status MergeLowRankChecked(const LowRankMerge& merge) override;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_MEMORY_MEMORY_OPS_H_
