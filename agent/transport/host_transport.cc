#include "agent/transport/host_transport.h"

#include <algorithm>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/unreachable_peer.h"
#include "paramsync/v1/agent.grpc.pb.h"

namespace paramsync::agent {

HostTransport::HostTransport(Inbox* inbox, ChannelFactory channel_factory,
                             absl::Duration push_delay)
    : inbox_(inbox), channel_factory_(std::move(channel_factory)), push_delay_(push_delay) {}

absl::Status HostTransport::SetupGroup(const GroupView& group) {
  // Host transfers need no per-group state: each push names its receiver.
  if (group.members.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("group ", group.name, " has no members"));
  }
  return absl::OkStatus();
}

void HostTransport::DestroyGroup(const std::string&) {}

absl::Status HostTransport::BroadcastSend(const GroupView& group, uint64_t sync_id,
                                          uint64_t task_id, absl::Span<const int> receivers,
                                          absl::Span<const ConstBuffer> data, absl::Time deadline) {
  std::vector<const GroupMemberAddress*> members;
  for (int rank : receivers) {
    const GroupMemberAddress* member = group.Member(rank);
    if (member == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("rank ", rank, " is not a member of group ", group.name));
    }
    members.push_back(member);
  }
  std::vector<absl::Status> results(members.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < members.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] = SendOne(*members[i], TransferKey{sync_id, task_id, members[i]->sync_rank}, data,
                           deadline);
    });
  }
  if (!members.empty()) {
    results[0] =
        SendOne(*members[0], TransferKey{sync_id, task_id, members[0]->sync_rank}, data, deadline);
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : results) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status HostTransport::SendOne(const GroupMemberAddress& receiver, const TransferKey& key,
                                    absl::Span<const ConstBuffer> data, absl::Time deadline) {
  if (receiver.address == self_address_) return inbox_->Deliver(key, data, deadline);
  return SendRemote(receiver, key, data, deadline);
}

absl::Status HostTransport::SendRemote(const GroupMemberAddress& receiver, const TransferKey& key,
                                       absl::Span<const ConstBuffer> data, absl::Time deadline) {
  const std::string& address = receiver.push_address();
  if (push_delay_ > absl::ZeroDuration()) {
    absl::Status aborted =
        inbox_->AwaitAbort(key.sync_id, std::min(deadline, absl::Now() + push_delay_));
    if (!aborted.ok()) return aborted;
  }
  auto stub = v1::AgentData::NewStub(Channel(address));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  {
    absl::MutexLock lock(&mu_);
    in_flight_[key.sync_id].push_back(&context);
  }
  v1::PushResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::DataChunk>> writer = stub->Push(&context, &response);
  v1::DataChunk chunk;
  chunk.set_sync_id(key.sync_id);
  chunk.set_task_id(key.task_id);
  chunk.set_receiver_sync_rank(key.receiver_sync_rank);
  // Packs the buffers back to back into chunks of kChunkBytes.
  bool stream_ok = true;
  bool sent_any = false;
  for (const ConstBuffer& buffer : data) {
    const char* bytes = static_cast<const char*>(buffer.data);
    size_t remaining = buffer.size;
    while (remaining > 0 && stream_ok) {
      const size_t n = std::min(remaining, kChunkBytes - chunk.data().size());
      chunk.mutable_data()->append(bytes, n);
      bytes += n;
      remaining -= n;
      if (chunk.data().size() == kChunkBytes) {
        stream_ok = writer->Write(chunk);
        sent_any = true;
        chunk.clear_data();
      }
    }
  }
  // The last chunk also carries the header when the transfer is empty.
  if (stream_ok && (!chunk.data().empty() || !sent_any)) {
    stream_ok = writer->Write(chunk);
  }
  if (stream_ok) writer->WritesDone();
  grpc::Status status = writer->Finish();
  {
    absl::MutexLock lock(&mu_);
    auto& contexts = in_flight_[key.sync_id];
    contexts.erase(std::find(contexts.begin(), contexts.end(), &context));
    if (contexts.empty()) in_flight_.erase(key.sync_id);
    // The receiver's agent is gone: the next push (to it restarted) gets a new
    // channel, not one waiting out its reconnect backoff.
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) channels_.erase(address);
  }
  absl::Status pushed = FromGrpcStatus(
      status,
      absl::StrCat("push of ", ToString(key), " (agent ", receiver.agent_id, " at ", address, ")"));
  // The connection failed or went silent (the channel's keepalive): the
  // receiver is unreachable from here, whether it is down or the network is.
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return WithUnreachablePeer(std::move(pushed), receiver.agent_id);
  }
  return pushed;
}

absl::Status HostTransport::BroadcastRecv(const GroupView& group, const TransferKey& key,
                                          int root_sync_rank, absl::Span<const int>,
                                          absl::Span<const MutableBuffer> data,
                                          absl::Time deadline) {
  if (group.Member(root_sync_rank) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("root rank ", root_sync_rank, " is not a member of group ", group.name));
  }
  return inbox_->Receive(key, std::vector<MutableBuffer>(data.begin(), data.end()), deadline);
}

void HostTransport::Abort(uint64_t sync_id, const absl::Status& reason) {
  inbox_->Abort(sync_id, reason);
  absl::MutexLock lock(&mu_);
  for (auto& [id, contexts] : in_flight_) {
    if (sync_id != 0 && id != sync_id) continue;
    for (grpc::ClientContext* context : contexts) context->TryCancel();
  }
}

std::shared_ptr<grpc::Channel> HostTransport::Channel(const std::string& address) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<grpc::Channel>& channel = channels_[address];
  if (channel == nullptr) channel = channel_factory_(address);
  return channel;
}

}  // namespace paramsync::agent
