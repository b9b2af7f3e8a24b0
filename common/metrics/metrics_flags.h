// File: common/metrics/metrics_flags.h
// -----------------------------------------------------------------------------
// The metrics flags both daemons take: --metrics_listen (where to serve
// Prometheus' /metrics; off when empty) and --metrics_address_file (where to
// write the bound host:port, for launchers that pass port 0).
#ifndef PARAMSYNC_COMMON_METRICS_METRICS_FLAGS_H_
#define PARAMSYNC_COMMON_METRICS_METRICS_FLAGS_H_

#include "common/metrics/http_server.h"

namespace paramsync::metrics {

// The values of the flags, once the command line is parsed.
MetricsEndpointConfig MetricsConfigFromFlags();

}  // namespace paramsync::metrics

#endif  // PARAMSYNC_COMMON_METRICS_METRICS_FLAGS_H_
