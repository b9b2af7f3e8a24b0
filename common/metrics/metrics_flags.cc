#include "common/metrics/metrics_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, metrics_listen, "",
          "host:port to serve Prometheus metrics on at /metrics (plaintext HTTP; only on "
          "loopback unless --allow_insecure_remote; port 0 picks a free one); empty: no metrics "
          "endpoint");
ABSL_FLAG(std::string, metrics_address_file, "",
          "write the metrics endpoint's bound host:port here once serving (needs "
          "--metrics_listen)");

namespace paramsync::metrics {

MetricsEndpointConfig MetricsConfigFromFlags() {
  return MetricsEndpointConfig{absl::GetFlag(FLAGS_metrics_listen),
                               absl::GetFlag(FLAGS_metrics_address_file)};
}

}  // namespace paramsync::metrics
