#include "tests/metrics/exposition_parser.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace paramsync::testing {
namespace {

bool IsNameStart(char c, bool colon) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' || (colon && c == ':');
}
bool IsNameChar(char c, bool colon) {
  return IsNameStart(c, colon) || absl::ascii_isdigit(static_cast<unsigned char>(c));
}

// Consumes a metric name (colon allowed) or a label name from `in`.
bool ConsumeName(absl::string_view& in, bool colon, std::string& name) {
  if (in.empty() || !IsNameStart(in[0], colon)) return false;
  size_t n = 1;
  while (n < in.size() && IsNameChar(in[n], colon)) ++n;
  name = std::string(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

bool ParseValue(absl::string_view text, double& value) {
  if (text == "+Inf") {
    value = INFINITY;
  } else if (text == "-Inf") {
    value = -INFINITY;
  } else if (text == "NaN") {
    value = NAN;
  } else {
    // SimpleAtod also takes "inf" and "nan", which the format spells otherwise.
    const std::string lower = absl::AsciiStrToLower(text);
    return absl::SimpleAtod(text, &value) && !absl::StrContains(lower, "inf") &&
           !absl::StrContains(lower, "nan");
  }
  return true;
}

// Consumes {name="value",...}; `labels` gets them in order, `le` the value of
// a label named le.
bool ConsumeLabels(absl::string_view& in,
                   std::vector<std::pair<std::string, std::string>>& labels) {
  if (!absl::ConsumePrefix(&in, "{")) return true;
  while (!absl::ConsumePrefix(&in, "}")) {
    if (!labels.empty() && !absl::ConsumePrefix(&in, ",")) return false;
    std::string name;
    if (!ConsumeName(in, false, name) || !absl::ConsumePrefix(&in, "=\"")) return false;
    std::string value;
    while (true) {
      if (in.empty()) return false;
      const char c = in[0];
      in.remove_prefix(1);
      if (c == '"') break;
      if (c == '\n') return false;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (in.empty()) return false;
      const char escaped = in[0];
      in.remove_prefix(1);
      if (escaped == 'n') {
        value += '\n';
      } else if (escaped == '\\' || escaped == '"') {
        value += escaped;
      } else {
        return false;
      }
    }
    for (const auto& [seen, unused] : labels) {
      if (seen == name) return false;  // A label twice.
    }
    labels.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

struct Histogram {
  double last_bucket = -1;
  double last_le = -INFINITY;
  bool has_inf = false;
  double inf_count = 0;
};

}  // namespace

absl::StatusOr<std::map<std::string, double>> ParseExposition(const std::string& text) {
  if (!text.empty() && text.back() != '\n') {
    return absl::InvalidArgumentError("the text does not end with a line feed");
  }
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;     // Family -> type.
  std::set<std::string> closed;                 // Families whose samples ended.
  std::string current;                          // Family of the last TYPE line.
  std::map<std::string, Histogram> histograms;  // By series without le.
  std::map<std::string, double> counts;         // Histogram _count by series.
  int number = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text), '\n')) {
    ++number;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("line ", number, " (", line, "): ", why));
    };
    if (line.empty()) continue;
    if (absl::ConsumePrefix(&line, "# ")) {
      absl::string_view rest = line;
      const bool help = absl::ConsumePrefix(&rest, "HELP ");
      const bool type = !help && absl::ConsumePrefix(&rest, "TYPE ");
      if (!help && !type) continue;  // A comment.
      std::string name;
      if (!ConsumeName(rest, true, name) || !absl::ConsumePrefix(&rest, " ")) {
        return bad("expected a metric name and a space");
      }
      if (type) {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (kTypes.count(std::string(rest)) == 0) return bad("unknown type");
        if (!types.emplace(name, std::string(rest)).second) return bad("a second TYPE line");
        if (!current.empty()) closed.insert(current);
        current = name;
      }
      continue;
    }
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;
    absl::string_view rest = line;
    if (!ConsumeName(rest, true, name) || !ConsumeLabels(rest, labels) ||
        !absl::ConsumePrefix(&rest, " ")) {
      return bad("expected name{labels} value");
    }
    const std::vector<absl::string_view> fields = absl::StrSplit(rest, ' ');
    double value = 0;
    int64_t timestamp = 0;
    if (fields.empty() || fields.size() > 2 || !ParseValue(fields[0], value) ||
        (fields.size() == 2 && !absl::SimpleAtoi(fields[1], &timestamp))) {
      return bad("expected a value and an optional integer timestamp");
    }
    // The family: the name itself, or a histogram's name less its suffix.
    std::string family = name;
    std::string suffix;
    for (const char* s : {"_bucket", "_sum", "_count"}) {
      const std::string base = name.substr(0, name.size() - std::min(name.size(), strlen(s)));
      auto declared = types.find(base);
      if (absl::EndsWith(name, s) && declared != types.end() && declared->second == "histogram") {
        family = base;
        suffix = s;
      }
    }
    if (types.count(family) == 0) return bad("a sample before its family's TYPE line");
    if (family != current || closed.count(family) > 0) {
      return bad("a sample away from the rest of its family");
    }
    std::string written = name;
    std::string without_le;
    std::string le;
    for (const auto& [label, label_value] : labels) {
      if (label == "le" && suffix == "_bucket") {
        le = label_value;
        continue;
      }
      absl::StrAppend(&without_le, without_le.empty() ? "" : ",", label, "=\"",
                      absl::CHexEscape(label_value), "\"");
    }
    std::string all;
    for (const auto& [label, label_value] : labels) {
      absl::StrAppend(&all, all.empty() ? "" : ",", label, "=\"", absl::CHexEscape(label_value),
                      "\"");
    }
    if (!all.empty()) absl::StrAppend(&written, "{", all, "}");
    if (!samples.emplace(written, value).second) return bad("a series twice");
    if (types.at(family) != "histogram") continue;
    const std::string series = absl::StrCat(family, "{", without_le, "}");
    if (suffix == "_bucket") {
      double bound = 0;
      if (le.empty() || !ParseValue(le, bound)) return bad("a bucket without a numeric le");
      Histogram& h = histograms[series];
      if (h.has_inf || bound <= h.last_le) return bad("buckets out of order");
      if (value < h.last_bucket) return bad("bucket counts are not cumulative");
      h.last_le = bound;
      h.last_bucket = value;
      if (std::isinf(bound)) {
        h.has_inf = true;
        h.inf_count = value;
      }
    } else if (suffix == "_count") {
      counts[series] = value;
    } else if (suffix.empty()) {
      return bad("a histogram sample without _bucket, _sum or _count");
    }
  }
  for (const auto& [series, h] : histograms) {
    if (!h.has_inf) return absl::InvalidArgumentError(absl::StrCat(series, ": no le=\"+Inf\""));
    auto count = counts.find(series);
    if (count == counts.end() || count->second != h.inf_count) {
      return absl::InvalidArgumentError(
          absl::StrCat(series, ": _count differs from the +Inf bucket"));
    }
  }
  return samples;
}

}  // namespace paramsync::testing
