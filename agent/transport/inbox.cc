#include "agent/transport/inbox.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace paramsync::agent {
namespace {

constexpr size_t kMaxAbortedSyncs = 256;

size_t TotalBytes(const std::vector<MutableBuffer>& buffers) {
  size_t total = 0;
  for (const MutableBuffer& buffer : buffers) total += buffer.size;
  return total;
}

}  // namespace

PendingReceive::PendingReceive(std::vector<MutableBuffer> buffers, MemoryOps* memory)
    : buffers_(std::move(buffers)), memory_(memory), total_bytes_(TotalBytes(buffers_)) {}

absl::Status PendingReceive::Write(const void* data, size_t size) {
  absl::MutexLock lock(&mu_);
  if (done_) {
    return status_.ok() ? absl::FailedPreconditionError("transfer already complete") : status_;
  }
  if (size > total_bytes_ - written_) {
    return absl::InvalidArgumentError(
        absl::StrCat("sender sent more than the ", total_bytes_, " bytes the receiver expects"));
  }
  const char* src = static_cast<const char*>(data);
  while (size > 0) {
    const MutableBuffer& buffer = buffers_[buffer_index_];
    const size_t n = std::min(size, buffer.size - buffer_offset_);
    absl::Status copied = memory_->Copy(static_cast<char*>(buffer.data) + buffer_offset_, src, n);
    if (!copied.ok()) return copied;
    src += n;
    size -= n;
    written_ += n;
    buffer_offset_ += n;
    if (buffer_offset_ == buffer.size) {
      ++buffer_index_;
      buffer_offset_ = 0;
    }
  }
  return absl::OkStatus();
}

void PendingReceive::SetWriterCancel(std::function<void()> cancel_writer) {
  absl::MutexLock lock(&mu_);
  cancel_writer_ = std::move(cancel_writer);
  if (abandoned_) CancelWriter();
}

void PendingReceive::CancelWriter() {
  if (cancel_writer_) {
    cancel_writer_();
    cancel_writer_ = nullptr;
  }
}

void PendingReceive::Abandon(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (done_ && status_.ok()) return;  // Complete: the writer is done with it.
  if (!done_) {
    done_ = true;
    status_ = status;
  }
  abandoned_ = true;
  CancelWriter();
}

absl::Status PendingReceive::Finish(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (done_) return status_;
  done_ = true;
  if (!status.ok()) {
    status_ = status;
  } else if (written_ != total_bytes_) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("sender sent ", written_, " bytes, the receiver expects ", total_bytes_));
  }
  return status_;
}

absl::Status Inbox::AbortStatus(uint64_t sync_id) const {
  for (const auto& [id, status] : aborted_) {
    if (id == sync_id) return status;
  }
  return absl::OkStatus();
}

absl::Status Inbox::Receive(const TransferKey& key, std::vector<MutableBuffer> buffers,
                            absl::Time deadline) {
  auto receive = std::make_shared<PendingReceive>(std::move(buffers), memory_);
  {
    absl::MutexLock lock(&mu_);
    absl::Status aborted = AbortStatus(key.sync_id);
    if (!aborted.ok()) return aborted;
    if (!slots_.emplace(key, Slot{receive, false}).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("a receive for ", ToString(key), " is already posted"));
    }
  }
  absl::Status result;
  {
    absl::MutexLock lock(&receive->mu_);
    auto done = [&receive]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(receive->mu_) { return receive->done_; };
    receive->mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
    if (!receive->done_) {
      // Closing it under its lock guarantees no writer is inside Write() now
      // and none will write later.
      receive->done_ = true;
      receive->status_ = absl::DeadlineExceededError(absl::StrCat(
          "no data (or not all of it) arrived for ", ToString(key),
          " before the deadline: ", receive->written_, " of ", receive->total_bytes_, " bytes"));
      receive->abandoned_ = true;
      receive->CancelWriter();
    }
    result = receive->status_;
  }
  absl::MutexLock lock(&mu_);
  slots_.erase(key);
  return result;
}

absl::StatusOr<std::shared_ptr<PendingReceive>> Inbox::Claim(const TransferKey& key,
                                                             absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  const uint64_t aborts_before = abort_all_count_;
  auto ready = [this, &key, aborts_before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return slots_.contains(key) || !AbortStatus(key.sync_id).ok() ||
           abort_all_count_ != aborts_before;
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  absl::Status aborted = AbortStatus(key.sync_id);
  if (!aborted.ok()) return aborted;
  if (abort_all_count_ != aborts_before) return abort_all_reason_;
  auto it = slots_.find(key);
  if (it == slots_.end()) {
    return absl::DeadlineExceededError(
        absl::StrCat("the receiver never posted ", ToString(key), " before the deadline"));
  }
  if (it->second.claimed) {
    return absl::AlreadyExistsError(absl::StrCat(ToString(key), " has already been sent"));
  }
  it->second.claimed = true;
  return it->second.receive;
}

absl::Status Inbox::Deliver(const TransferKey& key, absl::Span<const ConstBuffer> data,
                            absl::Time deadline) {
  absl::StatusOr<std::shared_ptr<PendingReceive>> receive = Claim(key, deadline);
  if (!receive.ok()) return receive.status();
  for (const ConstBuffer& buffer : data) {
    absl::Status written = (*receive)->Write(buffer.data, buffer.size);
    if (!written.ok()) return (*receive)->Finish(written);
  }
  return (*receive)->Finish(absl::OkStatus());
}

void Inbox::Abort(uint64_t sync_id, const absl::Status& reason) {
  std::vector<std::shared_ptr<PendingReceive>> to_fail;
  {
    absl::MutexLock lock(&mu_);
    if (sync_id != 0) {
      aborted_.emplace_back(sync_id, reason);
      if (aborted_.size() > kMaxAbortedSyncs) aborted_.pop_front();
    } else {
      // Wakes writers waiting to claim (and AwaitAbort) of every sync.
      ++abort_all_count_;
      abort_all_reason_ = reason;
    }
    for (auto& [key, slot] : slots_) {
      if (sync_id == 0 || key.sync_id == sync_id) to_fail.push_back(slot.receive);
    }
  }
  for (const auto& receive : to_fail) receive->Abandon(reason);
}

absl::Status Inbox::AwaitAbort(uint64_t sync_id, absl::Time until) {
  absl::MutexLock lock(&mu_);
  const uint64_t aborts_before = abort_all_count_;
  auto aborted = [this, sync_id, aborts_before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !AbortStatus(sync_id).ok() || abort_all_count_ != aborts_before;
  };
  mu_.AwaitWithDeadline(absl::Condition(&aborted), until);
  if (absl::Status status = AbortStatus(sync_id); !status.ok()) return status;
  if (abort_all_count_ != aborts_before) return abort_all_reason_;
  return absl::OkStatus();
}

}  // namespace paramsync::agent
