// File: client/coordinator_client.h
// -----------------------------------------------------------------------------
// What orchestration scripts call on the coordinator: create a sync group, run a
// sync, read plans and status, and watch the error channel. Every call takes a
// timeout and returns the coordinator's status unchanged.
#ifndef PARAMSYNC_CLIENT_COORDINATOR_CLIENT_H_
#define PARAMSYNC_CLIENT_COORDINATOR_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/credentials.h"
#include "paramsync/v1/coordinator.grpc.pb.h"

namespace paramsync::client {

class CoordinatorClient {
 public:
  // With the process's client credentials (client/client_security.h: the
  // PARAMSYNC_* environment variables by default).
  explicit CoordinatorClient(const std::string& address);
  // With the TLS material and token of `security`. Either way, credentials
  // that cannot be read fail every call with that error.
  CoordinatorClient(const std::string& address, const SecurityConfig& security);

  absl::Status CreateSyncGroup(const v1::SyncGroupSpec& group,
                               absl::Duration timeout = absl::Seconds(10));
  absl::StatusOr<v1::SyncResponse> Sync(const std::string& group,
                                        absl::Duration timeout = absl::Minutes(5));
  // With the request's options (dry_run, warmup).
  absl::StatusOr<v1::SyncResponse> Sync(const v1::SyncRequest& request,
                                        absl::Duration timeout = absl::Minutes(5));
  // Runs a sync as Sync does, calling `on_progress` with each progress event as
  // it arrives (on this thread); returns the report of the last event. A
  // stream that ends without one is UNAVAILABLE.
  absl::StatusOr<v1::SyncResponse> SyncWithProgress(
      const v1::SyncRequest& request,
      const std::function<void(const v1::SyncProgress&)>& on_progress,
      absl::Duration timeout = absl::Minutes(5));
  absl::StatusOr<v1::SyncPlan> GetPlan(const std::string& group,
                                       absl::Duration timeout = absl::Seconds(30));
  absl::StatusOr<v1::ListAgentsResponse> ListAgents(absl::Duration timeout = absl::Seconds(10));
  absl::StatusOr<v1::ListEndpointsResponse> ListEndpoints(
      const std::string& model = "", absl::Duration timeout = absl::Seconds(10));
  absl::StatusOr<v1::ListSyncGroupsResponse> ListSyncGroups(
      absl::Duration timeout = absl::Seconds(10));

  // Streams error events to `on_event` until it returns false, `timeout`
  // passes (then OK), or the stream fails. With `since`, first the events the
  // coordinator still holds that were published at or after it (catching up
  // after a reconnect or a coordinator restart).
  absl::Status WatchErrors(const std::function<bool(const v1::ErrorEvent&)>& on_event,
                           absl::Duration timeout);
  absl::Status WatchErrors(const std::function<bool(const v1::ErrorEvent&)>& on_event,
                           absl::Duration timeout, absl::Time since);

 private:
  CoordinatorClient(const std::string& address,
                    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel);

  const std::string address_;
  const absl::Status channel_status_;
  const std::unique_ptr<v1::Coordinator::Stub> stub_;  // Null when channel_status_ is an error.
};

}  // namespace paramsync::client

#endif  // PARAMSYNC_CLIENT_COORDINATOR_CLIENT_H_
