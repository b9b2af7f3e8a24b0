#include "common/metrics/status_label.h"

#include "absl/strings/ascii.h"

namespace paramsync::metrics {

std::string StatusLabel(absl::StatusCode code) {
  // Codes come from peers too (error events): bound the label's values.
  const std::string name = absl::StatusCodeToString(code);
  return name.empty() ? "unknown" : absl::AsciiStrToLower(name);
}

}  // namespace paramsync::metrics
