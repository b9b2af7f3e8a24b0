// File: common/metrics/text_format.h
// -----------------------------------------------------------------------------
// Prometheus' text exposition format (version 0.0.4), what a scrape of
// /metrics returns: per family a HELP and a TYPE line, then one line per
// series (histograms: _bucket lines with cumulative counts by `le`, then _sum
// and _count). Label values and help text are escaped as the format requires.
#ifndef PARAMSYNC_COMMON_METRICS_TEXT_FORMAT_H_
#define PARAMSYNC_COMMON_METRICS_TEXT_FORMAT_H_

#include <string>
#include <vector>

#include "common/metrics/metrics.h"

namespace paramsync::metrics {

// The Content-Type of what ToTextFormat() returns.
inline constexpr char kTextFormatContentType[] = "text/plain; version=0.0.4; charset=utf-8";

std::string ToTextFormat(const std::vector<FamilySnapshot>& families);

// A sample value as the format writes it: the shortest decimal that reads back
// as `value` (integers without an exponent up to 2^53), "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);

}  // namespace paramsync::metrics

#endif  // PARAMSYNC_COMMON_METRICS_TEXT_FORMAT_H_
