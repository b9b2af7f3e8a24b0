// File: tests/metrics/exposition_parser.h
// -----------------------------------------------------------------------------
// An independent reader of Prometheus' text exposition format (0.0.4) for
// tests: checks every line against the format's grammar, and the rules a
// scraper relies on (one TYPE per family, before and next to its samples;
// histogram buckets cumulative, ending in le="+Inf" equal to _count), and
// returns the samples.
#ifndef PARAMSYNC_TESTS_METRICS_EXPOSITION_PARSER_H_
#define PARAMSYNC_TESTS_METRICS_EXPOSITION_PARSER_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace paramsync::testing {

// Sample values by series as written: name{label="value",...} (no braces
// without labels). INVALID_ARGUMENT names the first offending line.
absl::StatusOr<std::map<std::string, double>> ParseExposition(const std::string& text);

}  // namespace paramsync::testing

#endif  // PARAMSYNC_TESTS_METRICS_EXPOSITION_PARSER_H_
