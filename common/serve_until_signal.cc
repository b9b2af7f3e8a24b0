#include "common/serve_until_signal.h"

#include <glog/logging.h>

#include <memory>

#include "absl/flags/flag.h"
#include "common/address_file.h"
#include "common/health_listener.h"

ABSL_FLAG(std::string, health_listen, "",
          "host:port of a second, plaintext port serving only the gRPC health service "
          "(grpc.health.v1), for probes that cannot use TLS or tokens (Kubernetes grpc probes); "
          "it tells only whether the daemon serves; empty: none");

namespace paramsync {

int ServeUntilSignal(SignalWaiter& signals, const std::string& address,
                     const std::string& address_file, const std::function<void()>& shutdown) {
  std::unique_ptr<HealthListener> health;
  if (const std::string health_address = absl::GetFlag(FLAGS_health_listen);
      !health_address.empty()) {
    absl::StatusOr<std::unique_ptr<HealthListener>> started = HealthListener::Start(health_address);
    if (!started.ok()) {
      LOG(ERROR) << started.status();
      shutdown();
      return 1;
    }
    health = *std::move(started);
    LOG(INFO) << "health service (plaintext, health only) on " << health->address();
  }
  absl::Status written = WriteAddressFile(address_file, address);
  if (!written.ok()) {
    LOG(ERROR) << written;
    shutdown();
    return 1;
  }
  const int signal = signals.Wait();
  LOG(INFO) << "signal " << signal << ": shutting down";
  // Probes see NOT_SERVING first, so no new work is routed here while the daemon stops.
  if (health != nullptr) health->Shutdown();
  shutdown();
  return 0;
}

}  // namespace paramsync
