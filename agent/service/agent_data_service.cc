#include "agent/service/agent_data_service.h"

#include "common/grpc_status.h"
#include "common/request_deadline.h"

namespace paramsync::agent {

grpc::Status AgentDataService::Push(grpc::ServerContext* context,
                                    grpc::ServerReader<v1::DataChunk>* reader, v1::PushResponse*) {
  v1::DataChunk chunk;
  if (!reader->Read(&chunk)) {
    return ToGrpcStatus(absl::InvalidArgumentError("Push stream carried no chunk"));
  }
  const TransferKey key{chunk.sync_id(), chunk.task_id(), chunk.receiver_sync_rank()};
  absl::StatusOr<std::shared_ptr<PendingReceive>> receive =
      inbox_->Claim(key, RequestDeadline(*context));
  if (!receive.ok()) return ToGrpcStatus(receive.status());
  // An abort ends a Read() blocked on a stalled (e.g. frozen) sender.
  (*receive)->SetWriterCancel([context] { context->TryCancel(); });
  absl::Status ended;
  do {
    absl::Status written = (*receive)->Write(chunk.data().data(), chunk.data().size());
    if (!written.ok()) {
      ended = written;
      break;
    }
  } while (reader->Read(&chunk));
  if (ended.ok() && context->IsCancelled()) {
    ended = absl::CancelledError("the push was cancelled (by the sender, or an abort here)");
  }
  absl::Status finished = (*receive)->Finish(ended);
  (*receive)->SetWriterCancel(nullptr);
  return ToGrpcStatus(finished);
}

}  // namespace paramsync::agent
