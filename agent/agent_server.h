// File: agent/agent_server.h
// -----------------------------------------------------------------------------
// Builds and wires one agent: tensor registry, transport, collective groups, task
// runner, the three gRPC services on one port (with the standard health and
// reflection services: SERVING while registered with the coordinator), the
// link to the coordinator, and the metrics endpoint.
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
#include "agent/metrics/agent_metrics.h"
#include "agent/service/agent_control_service.h"
#include "agent/service/agent_data_service.h"
#include "agent/service/agent_local_service.h"
#include "agent/tasks/group_table.h"
#include "agent/tasks/lora_merger.h"
#include "agent/tasks/task_runner.h"
#include "agent/tensors/tensor_registry.h"
#include "common/credentials.h"
#include "common/metrics/http_server.h"
#include "common/metrics/metrics.h"

namespace paramsync::agent {

struct AgentConfig {
  std::string listen_address = "127.0.0.1:0";  // Port 0: pick a free port.
  // Host name other agents reach this one at; the listen host when empty.
  std::string advertise_host;
  // host:port other agents push data to, when not this agent's address: a
  // proxy or NAT mapping in front of it (host transport). Empty: the address.
  std::string data_advertise_address;
  // A push to another agent fails (UNAVAILABLE, naming that agent) when its
  // connection stays silent this long: a network cut or a frozen peer, which
  // send no reset. Zero: pushes wait for the sync's deadline instead.
  absl::Duration push_silence_timeout = absl::Seconds(3);
  std::string coordinator_address;
  std::string device = "cpu";  // "cpu" or "cuda:N".
  std::string node_name;       // Physical host name; the advertise host when empty.
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Testing only (fault tests): wait this long before each push to another
  // agent (host transport), so that syncs last long enough to interrupt.
  absl::Duration debug_push_delay = absl::ZeroDuration();
  // Testing only (validation tests): damage the received bytes of this tensor
  // after every RunTasks (agent/tasks/received_bytes_corrupter.h); empty: off.
  std::string debug_corrupt_received_tensor;
  // TLS and tokens of the server, and of the calls to the coordinator and to
  // other agents.
  SecurityConfig security;
  // Where to serve Prometheus metrics (metrics/agent_metrics.h); none without
  // a listen address. Plaintext HTTP: loopback only unless
  // security.allow_insecure_remote.
  metrics::MetricsEndpointConfig metrics;
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
  metrics::Registry metrics_registry_;
  std::unique_ptr<AgentMetrics> metrics_;
  DataPlane data_;
  std::unique_ptr<TensorRegistry> tensors_;
  std::unique_ptr<GroupTable> groups_;
  std::unique_ptr<TaskRunner> runner_;
  std::unique_ptr<DigestRunner> digests_;
  std::unique_ptr<LoraMerger> lora_;  // Before data_ goes: frees copies in its memory.
  std::unique_ptr<ReceivedBytesCorrupter> corrupter_;  // Null unless testing asks for one.
  std::unique_ptr<CoordinatorLink> link_;
  std::unique_ptr<AgentControlService> control_service_;
  std::unique_ptr<AgentLocalService> local_service_;
  std::unique_ptr<AgentDataService> data_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<metrics::MetricsHttpServer> metrics_server_;  // Null without one.
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_AGENT_SERVER_H_
