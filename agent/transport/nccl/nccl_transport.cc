#include "agent/transport/nccl/nccl_transport.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/transport/nccl/cuda_stream.h"
#include "agent/transport/nccl/nccl_status.h"

namespace paramsync::agent {

NcclTransport::InFlight::InFlight(NcclTransport* transport, uint64_t sync_id,
                                  std::shared_ptr<Group> group)
    : transport_(transport) {
  absl::MutexLock lock(&transport_->mu_);
  entry_ = transport_->in_flight_.emplace(sync_id, std::move(group));
}

NcclTransport::InFlight::~InFlight() {
  absl::MutexLock lock(&transport_->mu_);
  transport_->in_flight_.erase(entry_);
}

NcclTransport::Group::~Group() {
  communicator.reset();  // Finalizes or aborts: nothing runs on the stream after.
  if (stream != nullptr) {
    cudaSetDevice(device);
    cudaStreamDestroy(stream);
  }
}

absl::StatusOr<std::unique_ptr<NcclTransport>> NcclTransport::Create(int device, Inbox* inbox) {
  absl::Status usable = CudaToStatus(cudaSetDevice(device), absl::StrCat("CUDA device ", device));
  if (!usable.ok()) return usable;
  return std::unique_ptr<NcclTransport>(new NcclTransport(device, inbox));
}

NcclTransport::~NcclTransport() {
  {
    absl::MutexLock lock(&mu_);
    // The agent is exiting: nothing is in flight that a finalize would flush,
    // and a finalize may wait for peers that are exiting one by one.
    for (auto& [name, group] : groups_) {
      if (group->communicator != nullptr) group->communicator->Abort();
    }
    groups_.clear();
  }
}

absl::Status NcclTransport::SetupGroup(const GroupView& view) {
  auto group = std::make_shared<Group>();
  group->unique_id = view.nccl_unique_id;
  int my_rank = -1;
  for (const GroupMemberAddress& member : view.members) {
    group->members.push_back(member.sync_rank);
    if (std::find(group->agents.begin(), group->agents.end(), member.address) ==
        group->agents.end()) {
      if (member.address == self_address_) my_rank = static_cast<int>(group->agents.size());
      group->agents.push_back(member.address);
    }
  }
  if (my_rank < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("group ", view.name, " has no member on this agent (", self_address_, ")"));
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = groups_.find(view.name);
    if (it != groups_.end() && it->second->members == group->members &&
        it->second->unique_id == group->unique_id &&
        (it->second->communicator == nullptr ||
         it->second->communicator->state() == NcclCommunicator::State::kReady)) {
      return absl::OkStatus();
    }
  }
  if (group->agents.size() > 1) {
    if (view.nccl_unique_id.size() != sizeof(ncclUniqueId)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "group ", view.name, " spans ", group->agents.size(), " devices but carries a ",
          view.nccl_unique_id.size(), "-byte NCCL unique id; NCCL needs ", sizeof(ncclUniqueId)));
    }
    ncclUniqueId id;
    std::memcpy(&id, view.nccl_unique_id.data(), sizeof(id));
    absl::StatusOr<cudaStream_t> stream = CreateAgentStream(device_);
    if (!stream.ok()) return stream.status();
    group->stream = *stream;
    group->device = device_;
    absl::StatusOr<std::unique_ptr<NcclCommunicator>> communicator = NcclCommunicator::Start(
        view.name, device_, static_cast<int>(group->agents.size()), my_rank, id);
    if (!communicator.ok()) return communicator.status();
    absl::Status ready = (*communicator)->WaitReady(absl::Now() + kInitTimeout);
    if (!ready.ok()) return ready;
    group->communicator = *std::move(communicator);
  }
  absl::MutexLock lock(&mu_);
  groups_[view.name] = std::move(group);
  return absl::OkStatus();
}

absl::StatusOr<std::string> NcclTransport::NewGroupId() {
  ncclUniqueId id;
  absl::Status status = NcclToStatus(ncclGetUniqueId(&id), "ncclGetUniqueId");
  if (!status.ok()) return status;
  return std::string(reinterpret_cast<const char*>(&id), sizeof(id));
}

void NcclTransport::DestroyGroup(const std::string& name) {
  absl::MutexLock lock(&mu_);
  groups_.erase(name);
}

absl::StatusOr<std::shared_ptr<NcclTransport::Group>> NcclTransport::Find(const GroupView& view) {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(view.name);
  // A group whose members all live on this agent has no communicator: its
  // transfers are device copies.
  if (it == groups_.end() ||
      (it->second->communicator != nullptr &&
       it->second->communicator->state() != NcclCommunicator::State::kReady)) {
    return absl::FailedPreconditionError(
        absl::StrCat("no ready NCCL communicator for group ", view.name, "; set it up first"));
  }
  return it->second;
}

absl::StatusOr<int> NcclTransport::CommRank(const Group& group, const GroupView& view,
                                            int sync_rank) {
  const GroupMemberAddress* member = view.Member(sync_rank);
  if (member == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", sync_rank, " is not a member of group ", view.name));
  }
  auto it = std::find(group.agents.begin(), group.agents.end(), member->address);
  return static_cast<int>(it - group.agents.begin());
}

absl::StatusOr<std::vector<int>> NcclTransport::RemotePeers(const Group& group,
                                                            const GroupView& view,
                                                            absl::Span<const int> receivers,
                                                            const std::string& root_address) {
  std::vector<int> peers;
  for (int receiver : receivers) {
    const GroupMemberAddress* member = view.Member(receiver);
    if (member == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("rank ", receiver, " is not a member of group ", view.name));
    }
    if (member->address == root_address) continue;
    absl::StatusOr<int> peer = CommRank(group, view, receiver);
    if (!peer.ok()) return peer.status();
    if (std::find(peers.begin(), peers.end(), *peer) != peers.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("group ", view.name, " has two receivers on the device of rank ", receiver,
                       "; one NCCL rank cannot receive twice in one transfer"));
    }
    peers.push_back(*peer);
  }
  return peers;
}

absl::Status NcclTransport::Run(Group& group, absl::Time deadline,
                                const std::function<ncclResult_t()>& enqueue) {
  absl::MutexLock group_lock(&group.mu);
  NcclCommunicator& communicator = *group.communicator;
  cudaSetDevice(device_);
  absl::Status status = communicator.CheckEnqueue(ncclGroupStart(), "ncclGroupStart");
  if (!status.ok()) return status;
  const ncclResult_t enqueued = enqueue();
  const ncclResult_t ended = ncclGroupEnd();
  status = communicator.CheckEnqueue(enqueued, "enqueue");
  if (status.ok()) status = communicator.CheckEnqueue(ended, "ncclGroupEnd");
  if (!status.ok()) return status;
  return communicator.WaitStream(group.stream, deadline);
}

absl::Status NcclTransport::BroadcastSend(const GroupView& view, uint64_t sync_id, uint64_t task_id,
                                          absl::Span<const int> receivers,
                                          absl::Span<const ConstBuffer> data, absl::Time deadline) {
  absl::StatusOr<std::shared_ptr<Group>> group = Find(view);
  if (!group.ok()) return group.status();
  // Receivers on this device: device copies, at the same time as the NCCL part.
  std::vector<absl::Status> local_results;
  local_results.reserve(receivers.size());  // Threads hold pointers into it.
  std::vector<std::thread> local;
  for (int receiver : receivers) {
    const GroupMemberAddress* member = view.Member(receiver);
    if (member != nullptr && member->address == self_address_) {
      local_results.emplace_back();
      local.emplace_back(
          [this, &data, deadline, sync_id, task_id, receiver, result = &local_results.back()] {
            *result = inbox_->Deliver(TransferKey{sync_id, task_id, receiver}, data, deadline);
          });
    }
  }
  absl::Status status = absl::OkStatus();
  absl::StatusOr<std::vector<int>> peers = RemotePeers(**group, view, receivers, self_address_);
  if (!peers.ok()) {
    status = peers.status();
  } else if (!peers->empty()) {
    InFlight in_flight(this, sync_id, *group);
    const int root = static_cast<int>(
        std::find((*group)->agents.begin(), (*group)->agents.end(), self_address_) -
        (*group)->agents.begin());
    ncclComm_t comm = (*group)->communicator->comm();
    cudaStream_t stream = (*group)->stream;
    const bool everyone = peers->size() + 1 == (*group)->agents.size();
    status = Run(**group, deadline, [&]() -> ncclResult_t {
      for (const ConstBuffer& buffer : data) {
        if (everyone) {
          const ncclResult_t r = ncclBroadcast(buffer.data, const_cast<void*>(buffer.data),
                                               buffer.size, ncclUint8, root, comm, stream);
          if (r != ncclSuccess && r != ncclInProgress) return r;
          continue;
        }
        for (int peer : *peers) {
          const ncclResult_t r = ncclSend(buffer.data, buffer.size, ncclUint8, peer, comm, stream);
          if (r != ncclSuccess && r != ncclInProgress) return r;
        }
      }
      return ncclSuccess;
    });
  }
  for (std::thread& thread : local) thread.join();
  if (!status.ok()) return status;
  for (const absl::Status& result : local_results) {
    if (!result.ok()) return result;
  }
  return absl::OkStatus();
}

absl::Status NcclTransport::BroadcastRecv(const GroupView& view, const TransferKey& key,
                                          int root_sync_rank, absl::Span<const int> receivers,
                                          absl::Span<const MutableBuffer> data,
                                          absl::Time deadline) {
  const GroupMemberAddress* root_member = view.Member(root_sync_rank);
  if (root_member == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("root rank ", root_sync_rank, " is not a member of group ", view.name));
  }
  if (root_member->address == self_address_) {
    return inbox_->Receive(key, std::vector<MutableBuffer>(data.begin(), data.end()), deadline);
  }
  absl::StatusOr<std::shared_ptr<Group>> group = Find(view);
  if (!group.ok()) return group.status();
  absl::StatusOr<int> root = CommRank(**group, view, root_sync_rank);
  if (!root.ok()) return root.status();
  // The same rule as the root's: a transfer to every other device is a broadcast.
  absl::StatusOr<std::vector<int>> peers =
      RemotePeers(**group, view, receivers, root_member->address);
  if (!peers.ok()) return peers.status();
  const bool broadcast = peers->size() + 1 == (*group)->agents.size();
  InFlight in_flight(this, key.sync_id, *group);
  ncclComm_t comm = (*group)->communicator->comm();
  cudaStream_t stream = (*group)->stream;
  return Run(**group, deadline, [&]() -> ncclResult_t {
    for (const MutableBuffer& buffer : data) {
      const ncclResult_t r =
          broadcast
              ? ncclBroadcast(buffer.data, buffer.data, buffer.size, ncclUint8, *root, comm, stream)
              : ncclRecv(buffer.data, buffer.size, ncclUint8, *root, comm, stream);
      if (r != ncclSuccess && r != ncclInProgress) return r;
    }
    return ncclSuccess;
  });
}

absl::Status NcclTransport::Exchange(const GroupView& view, uint64_t sync_id,
                                     absl::Span<const ExchangeSend> sends,
                                     absl::Span<const ExchangeRecv> recvs, absl::Time deadline) {
  absl::StatusOr<std::shared_ptr<Group>> group = Find(view);
  if (!group.ok()) return group.status();
  // (sender, receiver, NCCL peer, send or receive): NCCL matches a pair's
  // operations in the order they were issued, so both sides sort the same way.
  struct Remote {
    int sender;
    int receiver;
    int peer;
    const ExchangeSend* send;
    const ExchangeRecv* recv;
  };
  std::vector<Remote> remote;
  std::vector<ExchangeSend> local_sends;
  std::vector<ExchangeRecv> local_recvs;
  // The communicator rank of `sync_rank`'s agent; -1 for this agent.
  auto peer_of = [&](int sync_rank) -> absl::StatusOr<int> {
    const GroupMemberAddress* member = view.Member(sync_rank);
    if (member == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("rank ", sync_rank, " is not a member of group ", view.name));
    }
    if (member->address == self_address_) return -1;
    return CommRank(**group, view, sync_rank);
  };
  for (const ExchangeSend& send : sends) {
    absl::StatusOr<int> peer = peer_of(send.receiver_sync_rank);
    if (!peer.ok()) return peer.status();
    if (*peer < 0) {
      local_sends.push_back(send);
    } else {
      remote.push_back({send.sender_sync_rank, send.receiver_sync_rank, *peer, &send, nullptr});
    }
  }
  for (const ExchangeRecv& recv : recvs) {
    absl::StatusOr<int> peer = peer_of(recv.sender_sync_rank);
    if (!peer.ok()) return peer.status();
    if (*peer < 0) {
      local_recvs.push_back(recv);
    } else {
      remote.push_back({recv.sender_sync_rank, recv.receiver_sync_rank, *peer, nullptr, &recv});
    }
  }
  std::sort(remote.begin(), remote.end(), [](const Remote& a, const Remote& b) {
    return std::make_pair(a.sender, a.receiver) < std::make_pair(b.sender, b.receiver);
  });
  // Pairs on this agent go through the inbox while NCCL moves the rest.
  absl::Status local_status = absl::OkStatus();
  std::thread local;
  if (!local_sends.empty() || !local_recvs.empty()) {
    local = std::thread([&] {
      local_status = Transport::Exchange(view, sync_id, local_sends, local_recvs, deadline);
    });
  }
  absl::Status status = absl::OkStatus();
  if (!remote.empty()) {
    InFlight in_flight(this, sync_id, *group);
    ncclComm_t comm = (*group)->communicator->comm();
    cudaStream_t stream = (*group)->stream;
    status = Run(**group, deadline, [&]() -> ncclResult_t {
      for (const Remote& op : remote) {
        if (op.send != nullptr) {
          for (const ConstBuffer& b : op.send->data) {
            const ncclResult_t r = ncclSend(b.data, b.size, ncclUint8, op.peer, comm, stream);
            if (r != ncclSuccess && r != ncclInProgress) return r;
          }
        } else {
          for (const MutableBuffer& b : op.recv->data) {
            const ncclResult_t r = ncclRecv(b.data, b.size, ncclUint8, op.peer, comm, stream);
            if (r != ncclSuccess && r != ncclInProgress) return r;
          }
        }
      }
      return ncclSuccess;
    });
    if (!status.ok()) inbox_->Abort(sync_id, status);
  }
  if (local.joinable()) local.join();
  return status.ok() ? local_status : status;
}

void NcclTransport::Abort(uint64_t sync_id, const absl::Status& reason) {
  inbox_->Abort(sync_id, reason);
  absl::MutexLock lock(&mu_);
  for (auto& [id, group] : in_flight_) {
    if (sync_id != 0 && id != sync_id) continue;
    // Aborting from another thread is what ncclCommAbort is for; the waiting
    // operation then sees the error and returns.
    if (group->communicator != nullptr) group->communicator->Abort();
  }
}

}  // namespace paramsync::agent
