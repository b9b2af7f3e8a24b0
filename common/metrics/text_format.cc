#include "common/metrics/text_format.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace paramsync::metrics {
namespace {

// `text` with backslash and line feed escaped, and the double quote too when
// `quote` (label values; help text keeps it).
std::string Escape(const std::string& text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\' || (quote && c == '"')) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="x",b="y"} with `extra` (the histogram's le) last; empty without labels.
std::string Labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : ",", names[i], "=\"",
                    Escape(i < values.size() ? values[i] : "", true), "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, out.empty() ? "" : ",", extra);
  return out.empty() ? out : absl::StrCat("{", out, "}");
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::trunc(value) == value && std::fabs(value) <= 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string ToTextFormat(const std::vector<FamilySnapshot>& families) {
  std::string out;
  for (const FamilySnapshot& family : families) {
    absl::StrAppend(&out, "# HELP ", family.name, " ", Escape(family.help, false), "\n", "# TYPE ",
                    family.name, " ", TypeName(family.type), "\n");
    for (const Sample& sample : family.samples) {
      if (family.type != MetricType::kHistogram) {
        absl::StrAppend(&out, family.name, Labels(family.label_names, sample.label_values), " ",
                        FormatValue(sample.value), "\n");
        continue;
      }
      for (size_t i = 0; i < sample.bucket_counts.size(); ++i) {
        const std::string bound =
            i < family.bounds.size() ? FormatValue(family.bounds[i]) : std::string("+Inf");
        absl::StrAppend(
            &out, family.name, "_bucket",
            Labels(family.label_names, sample.label_values, absl::StrCat("le=\"", bound, "\"")),
            " ", sample.bucket_counts[i], "\n");
      }
      const std::string labels = Labels(family.label_names, sample.label_values);
      absl::StrAppend(&out, family.name, "_sum", labels, " ", FormatValue(sample.sum), "\n",
                      family.name, "_count", labels, " ", sample.count, "\n");
    }
  }
  return out;
}

}  // namespace paramsync::metrics
