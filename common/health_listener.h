// File: common/health_listener.h
// -----------------------------------------------------------------------------
// A second, plaintext port that serves only the standard gRPC health service
// (grpc.health.v1), for probes that can neither speak TLS nor carry a bearer
// token: Kubernetes' `grpc:` liveness and readiness probes. It answers SERVING
// from Start until Shutdown and serves nothing else, so it gives away no data
// and takes no command; the daemon's own port keeps its TLS and tokens.
//
// Example:
//   absl::StatusOr<std::unique_ptr<HealthListener>> health =
//       HealthListener::Start("0.0.0.0:8081");
//   ...
//   (*health)->Shutdown();  // NOT_SERVING, then closed.
#ifndef PARAMSYNC_COMMON_HEALTH_LISTENER_H_
#define PARAMSYNC_COMMON_HEALTH_LISTENER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace paramsync {

class HealthListener {
 public:
  // Serves on `address` ("host:port"; port 0 picks a free one). UNAVAILABLE
  // when it cannot listen there.
  static absl::StatusOr<std::unique_ptr<HealthListener>> Start(const std::string& address);
  ~HealthListener();  // Shutdown().

  // Answers NOT_SERVING to calls in flight, then closes the port (waiting at
  // most 1 s for them). Idempotent.
  void Shutdown();

  // The bound "host:port".
  const std::string& address() const { return address_; }

 private:
  class Service;

  HealthListener() = default;

  std::unique_ptr<Service> service_;  // Outlives server_ (declared first).
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace paramsync

#endif  // PARAMSYNC_COMMON_HEALTH_LISTENER_H_
