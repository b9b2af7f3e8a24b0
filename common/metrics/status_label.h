// File: common/metrics/status_label.h
// -----------------------------------------------------------------------------
// Status codes as metric labels: "ok", "unavailable", "deadline_exceeded", ...
#ifndef PARAMSYNC_COMMON_METRICS_STATUS_LABEL_H_
#define PARAMSYNC_COMMON_METRICS_STATUS_LABEL_H_

#include <string>

#include "absl/status/status.h"

namespace paramsync::metrics {

// The code's name in lower case; "unknown" for a value outside the codes.
std::string StatusLabel(absl::StatusCode code);

}  // namespace paramsync::metrics

#endif  // PARAMSYNC_COMMON_METRICS_STATUS_LABEL_H_
