// paramsync-agent: one per GPU (or per CPU device), beside the framework
// processes that use that device.
#include <glog/logging.h>

#include <algorithm>
#include <csignal>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/synchronization/notification.h"
#include "agent/agent_server.h"
#include "common/daemon_init.h"
#include "common/metrics/metrics_flags.h"
#include "common/security_flags.h"
#include "common/serve_until_signal.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "host:port to serve on; port 0 picks a free one");
ABSL_FLAG(std::string, advertise_host, "",
          "host other agents reach this one at (default: listen host)");
ABSL_FLAG(std::string, data_advertise_address, "",
          "host:port other agents push data to (host transport), when they reach this agent "
          "through a proxy or NAT mapping; default: the agent's own address");
ABSL_FLAG(int, push_silence_timeout_ms, 3000,
          "a push to another agent fails (UNAVAILABLE, naming that agent) once its connection "
          "answers no keepalive ping for this long (a network cut, a frozen peer); 0: off, "
          "pushes wait for the sync's deadline; else at least 200");
ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "coordinator host:port");
ABSL_FLAG(std::string, device, "cpu", "device this agent serves: cpu or cpu:N (host memory)");
ABSL_FLAG(std::string, node_name, "", "physical host name (default: advertise host)");
ABSL_FLAG(std::string, address_file, "", "write the bound host:port here once serving");
ABSL_FLAG(int, debug_push_delay_ms, 0,
          "testing only: wait this long before each push to another agent (CPU devices), so "
          "that fault tests can interrupt a sync");
ABSL_FLAG(std::string, debug_corrupt_received_bytes_for_test, "",
          "testing only: after every sync's transfers, overwrite the first bytes of this tensor "
          "in each inference endpoint of this agent, so that validation tests see a sync fail "
          "closed");

int main(int argc, char** argv) {
  paramsync::InitDaemon(argc, argv);
  paramsync::SignalWaiter signals;  // Before any thread starts, so they inherit the mask.

  paramsync::agent::AgentConfig config;
  config.listen_address = absl::GetFlag(FLAGS_listen);
  config.advertise_host = absl::GetFlag(FLAGS_advertise_host);
  config.data_advertise_address = absl::GetFlag(FLAGS_data_advertise_address);
  config.push_silence_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_push_silence_timeout_ms));
  config.coordinator_address = absl::GetFlag(FLAGS_coordinator);
  config.device = absl::GetFlag(FLAGS_device);
  config.node_name = absl::GetFlag(FLAGS_node_name);
  config.security = paramsync::SecurityConfigFromFlags();
  config.debug_push_delay =
      absl::Milliseconds(std::max(0, absl::GetFlag(FLAGS_debug_push_delay_ms)));
  config.debug_corrupt_received_tensor = absl::GetFlag(FLAGS_debug_corrupt_received_bytes_for_test);
  config.metrics = paramsync::metrics::MetricsConfigFromFlags();
  auto agent = paramsync::agent::AgentServer::Start(config);
  if (!agent.ok()) {
    LOG(ERROR) << "agent failed to start: " << agent.status();
    return 1;
  }
  return paramsync::ServeUntilSignal(signals, (*agent)->address(),
                                     absl::GetFlag(FLAGS_address_file),
                                     [&] { (*agent)->Shutdown(); });
}
