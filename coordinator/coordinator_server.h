// File: coordinator/coordinator_server.h
// -----------------------------------------------------------------------------
// Builds and wires the coordinator: registries, metrics, error channel,
// executor, sync manager, the gRPC service with the standard health and
// reflection services, and the metrics endpoint. Members are
// declared in dependency order so they are destroyed safely.
#ifndef PARAMSYNC_COORDINATOR_COORDINATOR_SERVER_H_
#define PARAMSYNC_COORDINATOR_COORDINATOR_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/credentials.h"
#include "common/metrics/http_server.h"
#include "common/metrics/metrics.h"
#include "coordinator/errors/error_channel.h"
#include "coordinator/executor/agent_client.h"
#include "coordinator/executor/sync_executor.h"
#include "coordinator/metrics/coordinator_metrics.h"
#include "coordinator/registry/agent_registry.h"
#include "coordinator/registry/endpoint_registry.h"
#include "coordinator/service/coordinator_service.h"
#include "coordinator/state/state_file.h"
#include "coordinator/sync/sync_manager.h"

namespace paramsync::coordinator {

struct CoordinatorConfig {
  std::string listen_address = "127.0.0.1:50051";  // Port 0: pick a free port.
  absl::Duration heartbeat_interval = absl::Seconds(1);
  // TLS and tokens of the server and of the calls to agents (which carry the
  // daemon token, as the agents' calls here must).
  SecurityConfig security;
  // Where sync groups, versions and history persist across restarts
  // (state/state_file.h); empty: in memory only.
  std::string state_file;
  // An agent silent (no heartbeat) for longer is dead: it is expired (it
  // registers again when it comes back) and a sync it takes part in fails at
  // once. Zero: agents never expire. Keep it several heartbeat intervals long.
  absl::Duration agent_lease = absl::Seconds(5);
  // Where to serve Prometheus metrics (metrics/coordinator_metrics.h); none
  // without a listen address. Plaintext HTTP: loopback only unless
  // security.allow_insecure_remote.
  metrics::MetricsEndpointConfig metrics;
};

class CoordinatorServer {
 public:
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const CoordinatorConfig& config);
  ~CoordinatorServer();

  const std::string& address() const { return address_; }

  // Fails in-flight syncs with UNAVAILABLE, ends error watchers, stops serving.
  void Shutdown();

 private:
  CoordinatorServer(const CoordinatorConfig& config, const Credentials& credentials,
                    std::unique_ptr<StateFile> state);

  std::string address_;
  AgentRegistry agents_;
  EndpointRegistry endpoints_;
  metrics::Registry metrics_registry_;
  CoordinatorMetrics metrics_;
  ErrorChannel errors_;
  std::unique_ptr<StateFile> state_;  // Null without a state file.
  AgentClientPool agent_clients_;
  SyncExecutor executor_;
  SyncManager syncs_;
  CoordinatorService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<metrics::MetricsHttpServer> metrics_server_;  // Null without one.
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_COORDINATOR_SERVER_H_
