// File: client/ctl/human_units.h
// -----------------------------------------------------------------------------
// Sizes, rates and durations as paramsyncctl's tables and progress lines show
// them to people: binary units with three significant digits.
#ifndef PARAMSYNC_CLIENT_CTL_HUMAN_UNITS_H_
#define PARAMSYNC_CLIENT_CTL_HUMAN_UNITS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace paramsync::ctl {

// "512 B", "1.50 KiB", "20.0 MiB", "7.31 GiB".
std::string HumanBytes(int64_t bytes);

// HumanBytes per second: "1.21 GiB/s".
std::string HumanRate(double bytes_per_second);

// "850 ms", "2.4 s", "3m12s", "5h3m".
std::string HumanDuration(absl::Duration duration);

}  // namespace paramsync::ctl

#endif  // PARAMSYNC_CLIENT_CTL_HUMAN_UNITS_H_
