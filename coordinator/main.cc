// paramsync-coordinator: the sync coordinator daemon. Options come from flags,
// or from a file of flag lines through --flagfile=PATH (absl's config file).
#include <glog/logging.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/security_flags.h"
#include "common/serve_until_signal.h"
#include "coordinator/coordinator_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "host:port to serve on; port 0 picks a free one");
ABSL_FLAG(int, heartbeat_interval_ms, 1000, "how often agents heartbeat");
ABSL_FLAG(std::string, address_file, "", "write the bound host:port here once serving");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  paramsync::SignalWaiter signals;  // Before any thread starts, so they inherit the mask.

  paramsync::coordinator::CoordinatorConfig config;
  config.listen_address = absl::GetFlag(FLAGS_listen);
  const int heartbeat_ms = absl::GetFlag(FLAGS_heartbeat_interval_ms);
  if (heartbeat_ms <= 0) {
    LOG(ERROR) << "--heartbeat_interval_ms must be > 0, got " << heartbeat_ms;
    return 2;
  }
  config.heartbeat_interval = absl::Milliseconds(heartbeat_ms);
  config.security = paramsync::SecurityConfigFromFlags();
  auto server = paramsync::coordinator::CoordinatorServer::Start(config);
  if (!server.ok()) {
    LOG(ERROR) << "coordinator failed to start: " << server.status();
    return 1;
  }
  return paramsync::ServeUntilSignal(signals, (*server)->address(),
                                     absl::GetFlag(FLAGS_address_file),
                                     [&] { (*server)->Shutdown(); });
}
