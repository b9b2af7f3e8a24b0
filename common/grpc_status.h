// File: common/grpc_status.h
// -----------------------------------------------------------------------------
// Conversions between absl::Status and grpc::Status. The two code spaces are
// one-to-one (absl/status/status.h), and a status's payloads travel in the
// grpc::Status error details (v1::StatusPayloads), so nothing is lost either
// way: an error that names, say, the agent it blames still does so after an RPC.
#ifndef PARAMSYNC_COMMON_GRPC_STATUS_H_
#define PARAMSYNC_COMMON_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace paramsync {

grpc::Status ToGrpcStatus(const absl::Status& status);

// `context` names the call in the message, e.g. "RunTasks on agent-3".
absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view context = "");

// Every outgoing RPC carries a deadline: sets it `timeout` from now.
void SetTimeout(grpc::ClientContext& context, absl::Duration timeout);

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_GRPC_STATUS_H_
