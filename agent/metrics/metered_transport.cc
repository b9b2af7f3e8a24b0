#include "agent/metrics/metered_transport.h"

namespace paramsync::agent {
namespace {

template <typename Buffer>
int64_t TotalBytes(absl::Span<const Buffer> buffers) {
  int64_t total = 0;
  for (const Buffer& buffer : buffers) total += static_cast<int64_t>(buffer.size);
  return total;
}

}  // namespace

absl::Status MeteredTransport::BroadcastSend(const GroupView& group, uint64_t sync_id,
                                             uint64_t task_id, absl::Span<const int> receivers,
                                             absl::Span<const ConstBuffer> data,
                                             absl::Time deadline) {
  absl::Status sent = inner_->BroadcastSend(group, sync_id, task_id, receivers, data, deadline);
  if (sent.ok() && metrics_ != nullptr) {
    metrics_->RecordTransfer(stage_, AgentMetrics::Direction::kSent,
                             TotalBytes(data) * static_cast<int64_t>(receivers.size()));
  }
  return sent;
}

absl::Status MeteredTransport::BroadcastRecv(const GroupView& group, const TransferKey& key,
                                             int root_sync_rank, absl::Span<const int> receivers,
                                             absl::Span<const MutableBuffer> data,
                                             absl::Time deadline) {
  absl::Status received =
      inner_->BroadcastRecv(group, key, root_sync_rank, receivers, data, deadline);
  if (received.ok() && metrics_ != nullptr) {
    metrics_->RecordTransfer(stage_, AgentMetrics::Direction::kReceived, TotalBytes(data));
  }
  return received;
}

absl::Status MeteredTransport::Exchange(const GroupView& group, uint64_t sync_id,
                                        absl::Span<const ExchangeSend> sends,
                                        absl::Span<const ExchangeRecv> recvs, absl::Time deadline) {
  absl::Status exchanged = inner_->Exchange(group, sync_id, sends, recvs, deadline);
  if (exchanged.ok() && metrics_ != nullptr) {
    int64_t sent = 0;
    for (const ExchangeSend& send : sends) sent += TotalBytes(absl::MakeConstSpan(send.data));
    int64_t received = 0;
    for (const ExchangeRecv& recv : recvs) received += TotalBytes(absl::MakeConstSpan(recv.data));
    metrics_->RecordTransfer(stage_, AgentMetrics::Direction::kSent, sent);
    metrics_->RecordTransfer(stage_, AgentMetrics::Direction::kReceived, received);
  }
  return exchanged;
}

}  // namespace paramsync::agent
