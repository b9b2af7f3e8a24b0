// File: agent/transport/nccl/nccl_transport.h
// -----------------------------------------------------------------------------
// The transport for GPU memory: one NCCL communicator per collective group
// (created on SetupGroup from the group's unique id, cached across syncs),
// transfers to every other member as ncclBroadcast, to some of them as
// ncclSend/ncclRecv, all on this agent's own CUDA stream and bounded by their
// deadlines (a timeout aborts the communicator; the next SetupGroup recreates it).
//
// A group has one communicator rank per agent (device). Endpoints on the same
// device never talk through NCCL (it cannot send to itself): a receiver on the
// root's own device gets its bytes by device copy through the agent's Inbox,
// and a group whose members all live here needs no communicator at all.
// Buffers passed to this transport are device pointers on `device`.
#ifndef PARAMSYNC_AGENT_TRANSPORT_NCCL_NCCL_TRANSPORT_H_
#define PARAMSYNC_AGENT_TRANSPORT_NCCL_NCCL_TRANSPORT_H_

#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/transport/inbox.h"
#include "agent/transport/nccl/nccl_communicator.h"
#include "agent/transport/transport.h"

namespace paramsync::agent {

class NcclTransport final : public Transport {
 public:
  // How long communicator creation may take (all ranks must join).
  static constexpr absl::Duration kInitTimeout = absl::Seconds(60);

  // FAILED_PRECONDITION when `device` is not a usable CUDA device. `inbox`
  // (whose MemoryOps copy on `device`) must outlive the transport.
  static absl::StatusOr<std::unique_ptr<NcclTransport>> Create(int device, Inbox* inbox);
  ~NcclTransport() override;

  void set_self_address(std::string address) override { self_address_ = std::move(address); }

  absl::string_view name() const override { return "nccl"; }
  absl::StatusOr<std::string> NewGroupId() override;
  absl::Status SetupGroup(const GroupView& group) override;
  void DestroyGroup(const std::string& name) override;
  absl::Status BroadcastSend(const GroupView& group, uint64_t sync_id, uint64_t task_id,
                             absl::Span<const int> receivers, absl::Span<const ConstBuffer> data,
                             absl::Time deadline) override;
  absl::Status BroadcastRecv(const GroupView& group, const TransferKey& key, int root_sync_rank,
                             absl::Span<const int> receivers, absl::Span<const MutableBuffer> data,
                             absl::Time deadline) override;
  // Remote pairs as one NCCL group of sends and receives, in (sender, receiver)
  // order on both sides; pairs inside this agent through the inbox.
  absl::Status Exchange(const GroupView& group, uint64_t sync_id,
                        absl::Span<const ExchangeSend> sends, absl::Span<const ExchangeRecv> recvs,
                        absl::Time deadline) override;
  void Abort(uint64_t sync_id, const absl::Status& reason) override;

 private:
  // A communicator, its stream and what maps group members to its ranks.
  struct Group {
    ~Group();

    std::vector<std::string> agents;  // Communicator rank -> agent address.
    std::vector<int> members;         // Sync ranks, to tell a changed membership.
    std::string unique_id;
    std::unique_ptr<NcclCommunicator> communicator;  // Null when every member is local.
    // Each communicator's operations run on a stream of their own: two groups
    // whose transfers depend on each other across agents (stage-2 ranks that
    // forward to one another) would deadlock queued on one stream.
    cudaStream_t stream = nullptr;
    int device = 0;
    absl::Mutex mu;  // One operation at a time per communicator.
  };

  // Marks `group` as used by `sync_id` while alive, so that Abort(sync_id) can
  // abort its communicator.
  class InFlight {
   public:
    InFlight(NcclTransport* transport, uint64_t sync_id, std::shared_ptr<Group> group);
    ~InFlight();

   private:
    NcclTransport* const transport_;
    std::multimap<uint64_t, std::shared_ptr<Group>>::iterator entry_;
  };

  NcclTransport(int device, Inbox* inbox) : device_(device), inbox_(inbox) {}
  // Communicator ranks of the agents of `receivers` other than this one.
  static absl::StatusOr<std::vector<int>> RemotePeers(const Group& group, const GroupView& view,
                                                      absl::Span<const int> receivers,
                                                      const std::string& root_address);
  absl::StatusOr<std::shared_ptr<Group>> Find(const GroupView& group);
  // The communicator rank of `sync_rank`'s agent.
  static absl::StatusOr<int> CommRank(const Group& group, const GroupView& view, int sync_rank);
  // Runs `enqueue` (NCCL calls inside ncclGroupStart/End) and waits for it.
  absl::Status Run(Group& group, absl::Time deadline, const std::function<ncclResult_t()>& enqueue);

  const int device_;
  Inbox* const inbox_;
  std::string self_address_;  // Set once, before the agent registers.

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Group>> groups_ ABSL_GUARDED_BY(mu_);
  std::multimap<uint64_t, std::shared_ptr<Group>> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TRANSPORT_NCCL_NCCL_TRANSPORT_H_
