// File: agent/metrics/metered_transport.h
// -----------------------------------------------------------------------------
// A Transport that forwards every call to another and records the bytes of the
// broadcasts and exchanges that succeed through it as one stage's
// (AgentMetrics): the task runner wraps its transport in one per task, so the
// transports themselves need not know stages. Sent bytes count once per
// receiver.
#ifndef PARAMSYNC_AGENT_METRICS_METERED_TRANSPORT_H_
#define PARAMSYNC_AGENT_METRICS_METERED_TRANSPORT_H_

#include <string>

#include "agent/metrics/agent_metrics.h"
#include "agent/transport/transport.h"

namespace paramsync::agent {

class MeteredTransport final : public Transport {
 public:
  // `inner` must outlive this; `metrics` may be null (nothing recorded).
  MeteredTransport(Transport* inner, AgentMetrics* metrics, int stage)
      : inner_(inner), metrics_(metrics), stage_(stage) {}

  absl::string_view name() const override { return inner_->name(); }
  void set_self_address(std::string address) override {
    inner_->set_self_address(std::move(address));
  }
  absl::StatusOr<std::string> NewGroupId() override { return inner_->NewGroupId(); }
  absl::Status SetupGroup(const GroupView& group) override { return inner_->SetupGroup(group); }
  void DestroyGroup(const std::string& name) override { inner_->DestroyGroup(name); }
  absl::Status BroadcastSend(const GroupView& group, uint64_t sync_id, uint64_t task_id,
                             absl::Span<const int> receivers, absl::Span<const ConstBuffer> data,
                             absl::Time deadline) override;
  absl::Status BroadcastRecv(const GroupView& group, const TransferKey& key, int root_sync_rank,
                             absl::Span<const int> receivers, absl::Span<const MutableBuffer> data,
                             absl::Time deadline) override;
  absl::Status Exchange(const GroupView& group, uint64_t sync_id,
                        absl::Span<const ExchangeSend> sends, absl::Span<const ExchangeRecv> recvs,
                        absl::Time deadline) override;
  void Abort(uint64_t sync_id, const absl::Status& reason) override {
    inner_->Abort(sync_id, reason);
  }

 private:
  Transport* const inner_;
  AgentMetrics* const metrics_;
  const int stage_;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_METRICS_METERED_TRANSPORT_H_
