// paramsync-coordinator: the sync coordinator daemon. Options come from flags,
// over a --config=PATH file of `flag = value` lines (common/config_file.h).
#include <glog/logging.h>

#include "absl/flags/flag.h"
#include "common/daemon_init.h"
#include "common/metrics/metrics_flags.h"
#include "common/security_flags.h"
#include "common/serve_until_signal.h"
#include "coordinator/coordinator_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "host:port to serve on; port 0 picks a free one");
ABSL_FLAG(int, heartbeat_interval_ms, 1000, "how often agents heartbeat");
ABSL_FLAG(int, agent_lease_ms, 4000,
          "an agent without a heartbeat for this long is dead or stuck: a sync it takes part in "
          "fails at once (naming it), and it must register again; at least 3 heartbeat "
          "intervals; 0: agents never expire. 4 s, so that with the 50 ms lease checks a "
          "stuck agent is found within 5 s");
ABSL_FLAG(std::string, address_file, "", "write the bound host:port here once serving");
ABSL_FLAG(std::string, state_file, "",
          "keep sync groups, their versions and history in this file across restarts (written "
          "atomically on every change; an unreadable or corrupt file stops the start); empty: "
          "in memory only");

int main(int argc, char** argv) {
  paramsync::InitDaemon(argc, argv);
  paramsync::SignalWaiter signals;  // Before any thread starts, so they inherit the mask.

  paramsync::coordinator::CoordinatorConfig config;
  config.listen_address = absl::GetFlag(FLAGS_listen);
  const int heartbeat_ms = absl::GetFlag(FLAGS_heartbeat_interval_ms);
  if (heartbeat_ms <= 0) {
    LOG(ERROR) << "--heartbeat_interval_ms must be > 0, got " << heartbeat_ms;
    return 2;
  }
  config.heartbeat_interval = absl::Milliseconds(heartbeat_ms);
  const int lease_ms = absl::GetFlag(FLAGS_agent_lease_ms);
  // One late or lost heartbeat must not kill a healthy agent.
  if (lease_ms < 0 || (lease_ms > 0 && lease_ms < 3 * heartbeat_ms)) {
    LOG(ERROR) << "--agent_lease_ms must be 0 or at least 3 x --heartbeat_interval_ms ("
               << 3 * heartbeat_ms << "), got " << lease_ms;
    return 2;
  }
  config.agent_lease = absl::Milliseconds(lease_ms);
  config.security = paramsync::SecurityConfigFromFlags();
  config.state_file = absl::GetFlag(FLAGS_state_file);
  config.metrics = paramsync::metrics::MetricsConfigFromFlags();
  auto server = paramsync::coordinator::CoordinatorServer::Start(config);
  if (!server.ok()) {
    LOG(ERROR) << "coordinator failed to start: " << server.status();
    return 1;
  }
  return paramsync::ServeUntilSignal(signals, (*server)->address(),
                                     absl::GetFlag(FLAGS_address_file),
                                     [&] { (*server)->Shutdown(); });
}
