// File: coordinator/coordinator_server.h
// -----------------------------------------------------------------------------
// Builds and wires the coordinator: registries, error channel, executor, sync
// manager, the gRPC service and the standard health service. Members are
// declared in dependency order so they are destroyed safely.
#ifndef PARAMSYNC_COORDINATOR_COORDINATOR_SERVER_H_
#define PARAMSYNC_COORDINATOR_COORDINATOR_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/credentials.h"
#include "coordinator/errors/error_channel.h"
#include "coordinator/executor/agent_client.h"
#include "coordinator/executor/sync_executor.h"
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
  ErrorChannel errors_;
  std::unique_ptr<StateFile> state_;  // Null without a state file.
  AgentClientPool agent_clients_;
  SyncExecutor executor_;
  SyncManager syncs_;
  CoordinatorService service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_COORDINATOR_SERVER_H_
