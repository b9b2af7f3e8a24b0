#include "agent/transport/transport.h"

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"

namespace paramsync::agent {

const GroupMemberAddress* GroupView::Member(int sync_rank) const {
  for (const GroupMemberAddress& member : members) {
    if (member.sync_rank == sync_rank) return &member;
  }
  return nullptr;
}

std::string ToString(const TransferKey& key) {
  return absl::StrCat("sync ", key.sync_id, " task ", key.task_id, " to rank ",
                      key.receiver_sync_rank);
}

absl::Status Transport::Exchange(const GroupView& group, uint64_t sync_id,
                                 absl::Span<const ExchangeSend> sends,
                                 absl::Span<const ExchangeRecv> recvs, absl::Time deadline) {
  std::vector<absl::Status> results(sends.size() + recvs.size());
  std::atomic<bool> failed{false};
  // The first failure ends the others at once instead of at the deadline.
  auto finish = [&](size_t i, absl::Status status) {
    if (!status.ok() && !failed.exchange(true)) Abort(sync_id, status);
    results[i] = std::move(status);
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < sends.size(); ++i) {
    threads.emplace_back([&, i] {
      const ExchangeSend& send = sends[i];
      finish(i, Send(group, sync_id, send.task_id, send.receiver_sync_rank, send.data, deadline));
    });
  }
  for (size_t i = 0; i < recvs.size(); ++i) {
    threads.emplace_back([&, i] {
      const ExchangeRecv& recv = recvs[i];
      finish(sends.size() + i,
             Recv(group, TransferKey{sync_id, recv.task_id, recv.receiver_sync_rank},
                  recv.sender_sync_rank, recv.data, deadline));
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : results) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace paramsync::agent
