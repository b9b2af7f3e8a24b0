#include "client/ctl/human_units.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace paramsync::ctl {
namespace {

// `value` in the largest binary unit it reaches, with three significant digits.
std::string Binary(double value, const char* suffix) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  size_t unit = 0;
  while (std::abs(value) >= 1024 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrFormat("%.0f %s%s", value, kUnits[0], suffix);
  const int decimals = std::abs(value) >= 100 ? 0 : std::abs(value) >= 10 ? 1 : 2;
  return absl::StrFormat("%.*f %s%s", decimals, value, kUnits[unit], suffix);
}

}  // namespace

std::string HumanBytes(int64_t bytes) { return Binary(static_cast<double>(bytes), ""); }

std::string HumanRate(double bytes_per_second) { return Binary(bytes_per_second, "/s"); }

std::string HumanDuration(absl::Duration duration) {
  if (duration < absl::Seconds(1)) {
    return absl::StrCat(absl::ToInt64Milliseconds(duration), " ms");
  }
  if (duration < absl::Minutes(1)) {
    return absl::StrFormat("%.1f s", absl::ToDoubleSeconds(duration));
  }
  const int64_t seconds = absl::ToInt64Seconds(duration);
  if (duration < absl::Hours(1)) return absl::StrCat(seconds / 60, "m", seconds % 60, "s");
  return absl::StrCat(seconds / 3600, "h", seconds % 3600 / 60, "m");
}

}  // namespace paramsync::ctl
