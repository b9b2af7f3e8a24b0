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
  do {
    absl::Status written = (*receive)->Write(chunk.data().data(), chunk.data().size());
    if (!written.ok()) return ToGrpcStatus((*receive)->Finish(written));
  } while (reader->Read(&chunk));
  absl::Status ended = context->IsCancelled()
                           ? absl::CancelledError("the sender cancelled the push")
                           : absl::OkStatus();
  return ToGrpcStatus((*receive)->Finish(ended));
}

}  // namespace paramsync::agent
