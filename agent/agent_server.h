// File: agent/agent_server.h
// -----------------------------------------------------------------------------
// Builds and wires one agent: tensor registry, transport, collective groups, task
// runner, the three gRPC services on one port, and the link to the coordinator.
// Members are declared in dependency order so they are destroyed safely.
#ifndef PARAMSYNC_AGENT_AGENT_SERVER_H_
#define PARAMSYNC_AGENT_AGENT_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/coordinator_link.h"
#include "agent/data_plane.h"
#include "agent/service/agent_control_service.h"
#include "agent/service/agent_data_service.h"
#include "agent/service/agent_local_service.h"
#include "agent/tasks/group_table.h"
#include "agent/tasks/task_runner.h"
#include "agent/tensors/tensor_registry.h"
#include "common/credentials.h"

namespace paramsync::agent {

struct AgentConfig {
  std::string listen_address = "127.0.0.1:0";  // Port 0: pick a free port.
  // Host name other agents reach this one at; the listen host when empty.
  std::string advertise_host;
  std::string coordinator_address;
  std::string device = "cpu";  // "cpu" or "cuda:N".
  std::string node_name;       // Physical host name; the advertise host when empty.
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Testing only (fault tests): wait this long before each push to another
  // agent (host transport), so that syncs last long enough to interrupt.
  absl::Duration debug_push_delay = absl::ZeroDuration();
  // TLS and tokens of the server, and of the calls to the coordinator and to
  // other agents.
  SecurityConfig security;
};

class AgentServer {
 public:
  // Starts serving and begins registering with the coordinator (in the
  // background: an agent may start before its coordinator).
  static absl::StatusOr<std::unique_ptr<AgentServer>> Start(const AgentConfig& config);

  ~AgentServer();

  // host:port this agent serves on.
  const std::string& address() const { return address_; }
  CoordinatorLink& link() { return *link_; }

  // Blocks until Shutdown() is called from another thread.
  void Wait();
  void Shutdown();

 private:
  AgentServer() = default;

  std::string address_;
  DataPlane data_;
  std::unique_ptr<TensorRegistry> tensors_;
  std::unique_ptr<GroupTable> groups_;
  std::unique_ptr<TaskRunner> runner_;
  std::unique_ptr<CoordinatorLink> link_;
  std::unique_ptr<AgentControlService> control_service_;
  std::unique_ptr<AgentLocalService> local_service_;
  std::unique_ptr<AgentDataService> data_service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_AGENT_SERVER_H_
