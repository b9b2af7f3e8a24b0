#include "common/grpc_status.h"

#include <chrono>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync {
namespace {

// The payloads of `status`, serialized for grpc::Status error details; empty
// when it has none.
std::string SerializedPayloads(const absl::Status& status) {
  v1::StatusPayloads payloads;
  status.ForEachPayload([&payloads](absl::string_view url, const absl::Cord& value) {
    (*payloads.mutable_payloads())[std::string(url)] = std::string(value);
  });
  return payloads.payloads().empty() ? std::string() : payloads.SerializeAsString();
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      SerializedPayloads(status));
}

absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view context) {
  if (status.ok()) return absl::OkStatus();
  std::string message = context.empty() ? status.error_message()
                                        : absl::StrCat(context, ": ", status.error_message());
  absl::Status converted(static_cast<absl::StatusCode>(status.error_code()), message);
  // Details that are not ours (another gRPC peer's) carry no payloads here.
  v1::StatusPayloads payloads;
  if (!status.error_details().empty() && payloads.ParseFromString(status.error_details())) {
    for (const auto& [url, value] : payloads.payloads())
      converted.SetPayload(url, absl::Cord(value));
  }
  return converted;
}

void SetTimeout(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::microseconds(absl::ToInt64Microseconds(timeout)));
}

}  // namespace paramsync
