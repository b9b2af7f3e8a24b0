// File: agent/transport/host_transport.h
// -----------------------------------------------------------------------------
// The transport for host memory (CPU mode, and the path of last resort). A root
// streams each receiver its bytes over the receiver agent's AgentData.Push RPC;
// a receiver on the same agent gets them by memcpy through the local Inbox.
// Receivers wait in the Inbox. Broadcasts fan out to all receivers at once.
#ifndef PARAMSYNC_AGENT_TRANSPORT_HOST_TRANSPORT_H_
#define PARAMSYNC_AGENT_TRANSPORT_HOST_TRANSPORT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "agent/transport/inbox.h"
#include "agent/transport/transport.h"

namespace paramsync::agent {

// Creates the channel to another agent (insecure on loopback; TLS is configured
// by the caller).
using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(const std::string& address)>;

class HostTransport final : public Transport {
 public:
  // Size of one Push message; below gRPC's 4 MiB default message limit.
  static constexpr size_t kChunkBytes = 2 << 20;

  // `inbox` is where this agent's AgentData service delivers incoming pushes; it
  // must outlive the transport. `push_delay` (testing only: fault tests need
  // syncs long enough to interrupt) is waited before each push to another
  // agent, unless the sync is aborted meanwhile.
  HostTransport(Inbox* inbox, ChannelFactory channel_factory,
                absl::Duration push_delay = absl::ZeroDuration());

  void set_self_address(std::string address) override { self_address_ = std::move(address); }

  absl::string_view name() const override { return "host"; }
  // Host groups need no id: each push names its receiver.
  absl::StatusOr<std::string> NewGroupId() override { return std::string(); }
  absl::Status SetupGroup(const GroupView& group) override;
  void DestroyGroup(const std::string& name) override;
  absl::Status BroadcastSend(const GroupView& group, uint64_t sync_id, uint64_t task_id,
                             absl::Span<const int> receivers, absl::Span<const ConstBuffer> data,
                             absl::Time deadline) override;
  absl::Status BroadcastRecv(const GroupView& group, const TransferKey& key, int root_sync_rank,
                             absl::Span<const int> receivers, absl::Span<const MutableBuffer> data,
                             absl::Time deadline) override;
  void Abort(uint64_t sync_id, const absl::Status& reason) override;

 private:
  absl::Status SendOne(const GroupMemberAddress& receiver, const TransferKey& key,
                       absl::Span<const ConstBuffer> data, absl::Time deadline);
  // Pushes to `receiver`'s push address. UNAVAILABLE when the connection
  // failed or went silent (channels from the factory detect silence), naming
  // the receiver's agent as unreachable (common/unreachable_peer.h).
  absl::Status SendRemote(const GroupMemberAddress& receiver, const TransferKey& key,
                          absl::Span<const ConstBuffer> data, absl::Time deadline);
  std::shared_ptr<grpc::Channel> Channel(const std::string& address);

  std::string self_address_;  // Set once, before the agent registers.
  Inbox* const inbox_;
  const ChannelFactory channel_factory_;
  const absl::Duration push_delay_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
  // Contexts of in-flight pushes by sync id, so that Abort() can cancel them.
  absl::flat_hash_map<uint64_t, std::vector<grpc::ClientContext*>> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TRANSPORT_HOST_TRANSPORT_H_
