#include "agent/transport/nccl/nccl_transport.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
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

absl::StatusOr<std::unique_ptr<NcclTransport>> NcclTransport::Create(int device) {
  absl::Status status = CudaToStatus(cudaSetDevice(device), absl::StrCat("CUDA device ", device));
  if (!status.ok()) return status;
  cudaStream_t stream = nullptr;
  status =
      CudaToStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  if (!status.ok()) return status;
  return std::unique_ptr<NcclTransport>(new NcclTransport(device, stream));
}

NcclTransport::~NcclTransport() {
  {
    absl::MutexLock lock(&mu_);
    groups_.clear();
  }
  cudaSetDevice(device_);
  cudaStreamDestroy(stream_);
}

absl::Status NcclTransport::SetupGroup(const GroupView& view) {
  if (view.nccl_unique_id.size() != sizeof(ncclUniqueId)) {
    return absl::InvalidArgumentError(
        absl::StrCat("group ", view.name, " carries a ", view.nccl_unique_id.size(),
                     "-byte NCCL unique id; NCCL needs ", sizeof(ncclUniqueId)));
  }
  auto group = std::make_shared<Group>();
  int my_rank = -1;
  int mine = 0;
  for (const GroupMemberAddress& member : view.members) {
    group->members.push_back(member.sync_rank);
    if (member.address == self_address_) ++mine;
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
  if (mine > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("group ", view.name, " has ", mine,
                     " members on this device; NCCL cannot send within "
                     "one GPU, so same-device pairs must be planned as device copies"));
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = groups_.find(view.name);
    if (it != groups_.end() && it->second->members == group->members &&
        it->second->communicator->state() == NcclCommunicator::State::kReady) {
      return absl::OkStatus();
    }
  }
  ncclUniqueId id;
  std::memcpy(&id, view.nccl_unique_id.data(), sizeof(id));
  absl::StatusOr<std::unique_ptr<NcclCommunicator>> communicator = NcclCommunicator::Start(
      view.name, device_, static_cast<int>(group->agents.size()), my_rank, id);
  if (!communicator.ok()) return communicator.status();
  absl::Status ready = (*communicator)->WaitReady(absl::Now() + kInitTimeout);
  if (!ready.ok()) return ready;
  group->communicator = *std::move(communicator);
  absl::MutexLock lock(&mu_);
  groups_[view.name] = std::move(group);
  return absl::OkStatus();
}

void NcclTransport::DestroyGroup(const std::string& name) {
  absl::MutexLock lock(&mu_);
  groups_.erase(name);
}

absl::StatusOr<std::shared_ptr<NcclTransport::Group>> NcclTransport::Find(const GroupView& view) {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(view.name);
  if (it == groups_.end() || it->second->communicator->state() != NcclCommunicator::State::kReady) {
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
  return communicator.WaitStream(stream_, deadline);
}

absl::Status NcclTransport::BroadcastSend(const GroupView& view, uint64_t sync_id, uint64_t,
                                          absl::Span<const int> receivers,
                                          absl::Span<const ConstBuffer> data, absl::Time deadline) {
  absl::StatusOr<std::shared_ptr<Group>> group = Find(view);
  if (!group.ok()) return group.status();
  InFlight in_flight(this, sync_id, *group);
  const int root =
      static_cast<int>(std::find((*group)->agents.begin(), (*group)->agents.end(), self_address_) -
                       (*group)->agents.begin());
  std::vector<int> peers;
  for (int receiver : receivers) {
    absl::StatusOr<int> peer = CommRank(**group, view, receiver);
    if (!peer.ok()) return peer.status();
    if (*peer == root) {
      return absl::FailedPreconditionError(absl::StrCat(
          "rank ", receiver, " is on this device: same-device pairs are device copies"));
    }
    peers.push_back(*peer);
  }
  ncclComm_t comm = (*group)->communicator->comm();
  const bool everyone = peers.size() + 1 == (*group)->agents.size();
  return Run(**group, deadline, [&]() -> ncclResult_t {
    for (const ConstBuffer& buffer : data) {
      if (everyone) {
        const ncclResult_t r = ncclBroadcast(buffer.data, const_cast<void*>(buffer.data),
                                             buffer.size, ncclUint8, root, comm, stream_);
        if (r != ncclSuccess && r != ncclInProgress) return r;
        continue;
      }
      for (int peer : peers) {
        const ncclResult_t r = ncclSend(buffer.data, buffer.size, ncclUint8, peer, comm, stream_);
        if (r != ncclSuccess && r != ncclInProgress) return r;
      }
    }
    return ncclSuccess;
  });
}

absl::Status NcclTransport::BroadcastRecv(const GroupView& view, const TransferKey& key,
                                          int root_sync_rank, absl::Span<const int> receivers,
                                          absl::Span<const MutableBuffer> data,
                                          absl::Time deadline) {
  absl::StatusOr<std::shared_ptr<Group>> group = Find(view);
  if (!group.ok()) return group.status();
  absl::StatusOr<int> root = CommRank(**group, view, root_sync_rank);
  if (!root.ok()) return root.status();
  InFlight in_flight(this, key.sync_id, *group);
  ncclComm_t comm = (*group)->communicator->comm();
  // The same rule as the root's: a transfer to every other member is a broadcast.
  const bool broadcast = receivers.size() + 1 == (*group)->agents.size();
  return Run(**group, deadline, [&]() -> ncclResult_t {
    for (const MutableBuffer& buffer : data) {
      const ncclResult_t r =
          broadcast ? ncclBroadcast(buffer.data, buffer.data, buffer.size, ncclUint8, *root, comm,
                                    stream_)
                    : ncclRecv(buffer.data, buffer.size, ncclUint8, *root, comm, stream_);
      if (r != ncclSuccess && r != ncclInProgress) return r;
    }
    return ncclSuccess;
  });
}

void NcclTransport::Abort(uint64_t sync_id, const absl::Status&) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, group] : in_flight_) {
    if (sync_id != 0 && id != sync_id) continue;
    // Aborting from another thread is what ncclCommAbort is for; the waiting
    // operation then sees the error and returns.
    if (group->communicator != nullptr) group->communicator->Abort();
  }
}

}  // namespace paramsync::agent
