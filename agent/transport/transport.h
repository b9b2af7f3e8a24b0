// File: agent/transport/transport.h
// -----------------------------------------------------------------------------
// The data plane between agents. A Transport moves the bytes of one task inside a
// collective group: a broadcast from a root to receivers (send/recv is the
// one-receiver case). Implementations: HostTransport (host memory, between
// processes over gRPC streams, same-agent pairs by memcpy) and NcclTransport
// (GPU memory; where CUDA exists).
//
// Every blocking call takes a deadline and returns DEADLINE_EXCEEDED when it
// passes; Abort() makes every pending call of a sync return at once.
#ifndef PARAMSYNC_AGENT_TRANSPORT_TRANSPORT_H_
#define PARAMSYNC_AGENT_TRANSPORT_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace paramsync::agent {

struct ConstBuffer {
  const void* data = nullptr;
  size_t size = 0;
};

struct MutableBuffer {
  void* data = nullptr;
  size_t size = 0;
};

// A member of a collective group, identified by its global sync rank.
struct GroupMemberAddress {
  int sync_rank = 0;
  std::string agent_id;
  std::string address;  // host:port of the member's agent.
  // Where pushes to the member go when not `address` (a proxy in front of its
  // agent: --data_advertise_address).
  std::string data_address;

  const std::string& push_address() const { return data_address.empty() ? address : data_address; }
};

struct GroupView {
  std::string name;
  std::vector<GroupMemberAddress> members;  // Index = rank in the group.
  std::string nccl_unique_id;               // For NCCL groups: the ncclUniqueId bytes.

  // nullptr when `sync_rank` is not a member.
  const GroupMemberAddress* Member(int sync_rank) const;
};

// Names one transfer to one receiver, so that both sides meet on it.
struct TransferKey {
  uint64_t sync_id = 0;
  uint64_t task_id = 0;
  int receiver_sync_rank = 0;

  template <typename H>
  friend H AbslHashValue(H h, const TransferKey& key) {
    return H::combine(std::move(h), key.sync_id, key.task_id, key.receiver_sync_rank);
  }
  friend bool operator==(const TransferKey& a, const TransferKey& b) {
    return a.sync_id == b.sync_id && a.task_id == b.task_id &&
           a.receiver_sync_rank == b.receiver_sync_rank;
  }
};

std::string ToString(const TransferKey& key);

// One member's outgoing part of an exchange: `data` to `receiver_sync_rank`.
struct ExchangeSend {
  uint64_t task_id = 0;
  int sender_sync_rank = 0;
  int receiver_sync_rank = 0;
  std::vector<ConstBuffer> data;
};

// One member's incoming part of an exchange: `data` from `sender_sync_rank`.
struct ExchangeRecv {
  uint64_t task_id = 0;
  int sender_sync_rank = 0;
  int receiver_sync_rank = 0;
  std::vector<MutableBuffer> data;
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual absl::string_view name() const = 0;

  // The address other agents reach this one at, known once the server bound its
  // port; it tells which group members are local. Call before the agent
  // registers: no transfer can name it earlier.
  virtual void set_self_address(std::string address) = 0;

  // A fresh id for a collective group whose first member is on this agent
  // (NCCL: an ncclUniqueId, whose bootstrap root lives in this process); empty
  // when the transport needs none. Every member sets the group up with it.
  virtual absl::StatusOr<std::string> NewGroupId() = 0;

  // Prepares `group` for transfers. Idempotent for the same membership; a group
  // of the same name with other members is replaced.
  virtual absl::Status SetupGroup(const GroupView& group) = 0;
  virtual void DestroyGroup(const std::string& name) = 0;

  // Root side of a broadcast inside `group`: sends `data`, in order, to each of
  // `receivers` (sync ranks of group members), under TransferKey{sync_id,
  // task_id, receiver}. Blocks until every receiver has every byte, one fails, or
  // `deadline`.
  virtual absl::Status BroadcastSend(const GroupView& group, uint64_t sync_id, uint64_t task_id,
                                     absl::Span<const int> receivers,
                                     absl::Span<const ConstBuffer> data, absl::Time deadline) = 0;

  // Receiver side: fills `data`, in order, with what `root_sync_rank` sends under
  // `key` to `receivers` (all of them, as the root was given them: a transport may
  // move data differently when they span the whole group). The sizes must match
  // what the root sends, or both sides fail.
  virtual absl::Status BroadcastRecv(const GroupView& group, const TransferKey& key,
                                     int root_sync_rank, absl::Span<const int> receivers,
                                     absl::Span<const MutableBuffer> data, absl::Time deadline) = 0;

  // Many-to-many inside `group` (all-to-all, all-gather): every send and
  // receive of this agent's members at once, so that members that send to and
  // receive from each other cannot wait on one another. Each pair's transfer is
  // keyed by its task_id; both sides list the same pairs. The default runs each
  // as a one-receiver broadcast on its own thread (fine where those do not
  // serialize); blocks until all finished, one failed, or `deadline`.
  virtual absl::Status Exchange(const GroupView& group, uint64_t sync_id,
                                absl::Span<const ExchangeSend> sends,
                                absl::Span<const ExchangeRecv> recvs, absl::Time deadline);

  // Fails every pending call of `sync_id` (0: of every sync) with `reason`.
  virtual void Abort(uint64_t sync_id, const absl::Status& reason) = 0;

  // Point-to-point: a broadcast with one receiver.
  absl::Status Send(const GroupView& group, uint64_t sync_id, uint64_t task_id, int receiver,
                    absl::Span<const ConstBuffer> data, absl::Time deadline) {
    return BroadcastSend(group, sync_id, task_id, absl::MakeConstSpan(&receiver, 1), data,
                         deadline);
  }
  absl::Status Recv(const GroupView& group, const TransferKey& key, int sender,
                    absl::Span<const MutableBuffer> data, absl::Time deadline) {
    return BroadcastRecv(group, key, sender, absl::MakeConstSpan(&key.receiver_sync_rank, 1), data,
                         deadline);
  }
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TRANSPORT_TRANSPORT_H_
