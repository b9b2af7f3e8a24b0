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
#include <functional>
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

  // While set, `cancel_writer` is called (under this receive's lock: it must
  // not block) when the receive is ended by the receiver's deadline or an
  // abort rather than by the writer, or at once if that already happened: a
  // writer blocked on a stalled sender stops instead of waiting for its
  // deadline. The writer clears it (nullptr) before its state goes away.
  void SetWriterCancel(std::function<void()> cancel_writer);

 private:
  friend class Inbox;

  // Ends the receive from the receiving side with `status` (not OK) and
  // cancels the writer.
  void Abandon(const absl::Status& status);
  void CancelWriter() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  const std::vector<MutableBuffer> buffers_;
  MemoryOps* const memory_;
  const size_t total_bytes_;
  size_t buffer_index_ ABSL_GUARDED_BY(mu_) = 0;
  size_t buffer_offset_ ABSL_GUARDED_BY(mu_) = 0;
  size_t written_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;  // Ended by Abandon() or the deadline.
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::function<void()> cancel_writer_ ABSL_GUARDED_BY(mu_);
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

  // Fails pending receives and claims of `sync_id` (0: all) with `reason`,
  // waking every waiter (receivers, writers waiting to claim, AwaitAbort) and
  // cancelling writers that claimed a receive; later calls for an aborted sync
  // id (not 0) fail at once.
  void Abort(uint64_t sync_id, const absl::Status& reason);

  // Blocks until `sync_id` is aborted (or every sync is, by Abort(0)) and
  // returns the reason, or until `until` and returns OK.
  absl::Status AwaitAbort(uint64_t sync_id, absl::Time until);

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
  // Abort(0) calls so far and the last one's reason: waiters compare the count
  // with the one they started at.
  uint64_t abort_all_count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status abort_all_reason_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TRANSPORT_INBOX_H_
