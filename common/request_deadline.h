// File: common/request_deadline.h
// -----------------------------------------------------------------------------
// The deadline of an incoming RPC as an absl::Time, bounded: a caller that set no
// deadline gets kMaxRequestTime, so no server-side wait is unbounded.
#ifndef PARAMSYNC_COMMON_REQUEST_DEADLINE_H_
#define PARAMSYNC_COMMON_REQUEST_DEADLINE_H_

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"

namespace paramsync {

inline constexpr absl::Duration kMaxRequestTime = absl::Minutes(10);

inline absl::Time RequestDeadline(const grpc::ServerContext& context) {
  const absl::Time bound = absl::Now() + kMaxRequestTime;
  const absl::Time deadline = absl::FromChrono(context.deadline());
  return deadline < bound ? deadline : bound;
}

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_REQUEST_DEADLINE_H_
