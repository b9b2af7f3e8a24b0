// File: agent/transport/inbox.h
// -----------------------------------------------------------------------------
// The rendezvous between receivers and incoming data on one agent. A receiver
// posts its destination buffers under a TransferKey and waits; a writer (a Push
// stream from another agent, or a local sender) claims the key, waiting for it to
// be posted if the data arrives first, and fills the buffers in order.
//
// Thread-safe. Once Receive() returns, however it ends, no writer touches its
// buffers again: a late writer gets FAILED_PRECONDITION instead. Writes go
// through the agent's MemoryOps, so the buffers may be host or device memory.
#ifndef PARAMSYNC_AGENT_TRANSPORT_INBOX_H_
#define PARAMSYNC_AGENT_TRANSPORT_INBOX_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/memory/memory_ops.h"
#include "agent/transport/transport.h"

namespace paramsync::agent {

// One posted receive, as a writer sees it.
class PendingReceive {
 public:
  PendingReceive(std::vector<MutableBuffer> buffers, MemoryOps* memory);

  // Copies `size` bytes to the current position. INVALID_ARGUMENT when they
  // overflow what was posted; the error status of the receive once it ended.
  absl::Status Write(const void* data, size_t size);

  // Ends the transfer and returns how it ended: OK only if every posted byte was
  // written and `status` is OK.
  absl::Status Finish(const absl::Status& status);

  size_t total_bytes() const { return total_bytes_; }

 private:
  friend class Inbox;

  absl::Mutex mu_;
  const std::vector<MutableBuffer> buffers_;
  MemoryOps* const memory_;
  const size_t total_bytes_;
  size_t buffer_index_ ABSL_GUARDED_BY(mu_) = 0;
  size_t buffer_offset_ ABSL_GUARDED_BY(mu_) = 0;
  size_t written_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

class Inbox {
 public:
  // `memory` holds the buffers receives post; it must outlive the inbox.
  explicit Inbox(MemoryOps* memory) : memory_(memory) {}

  // Posts `buffers` under `key` and blocks until a writer finished them, the
  // transfer failed, `deadline` passed, or the sync was aborted.
  // ALREADY_EXISTS if `key` is already posted.
  absl::Status Receive(const TransferKey& key, std::vector<MutableBuffer> buffers,
                       absl::Time deadline);

  // Waits until `key` is posted and returns it to the one writer allowed.
  // DEADLINE_EXCEEDED if it is not posted by `deadline`; ALREADY_EXISTS if
  // another writer claimed it.
  absl::StatusOr<std::shared_ptr<PendingReceive>> Claim(const TransferKey& key,
                                                        absl::Time deadline);

  // The sending side for a receiver on this agent: Claim(key), then writes
  // `data` in order and finishes. Returns how the receive ended.
  absl::Status Deliver(const TransferKey& key, absl::Span<const ConstBuffer> data,
                       absl::Time deadline);

  // Fails pending receives and claims of `sync_id` (0: all) with `reason`; later
  // calls for an aborted sync id fail at once.
  void Abort(uint64_t sync_id, const absl::Status& reason);

 private:
  struct Slot {
    std::shared_ptr<PendingReceive> receive;
    bool claimed = false;
  };
  // The abort status of `sync_id`, OK if it was not aborted.
  absl::Status AbortStatus(uint64_t sync_id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  MemoryOps* const memory_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<TransferKey, Slot> slots_ ABSL_GUARDED_BY(mu_);
  // Recently aborted syncs, bounded: a sync id is never reused, and old ones
  // cannot receive anything anyway.
  std::deque<std::pair<uint64_t, absl::Status>> aborted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TRANSPORT_INBOX_H_
