#include "common/config_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace paramsync {
namespace {

// Larger than any config file; stops a wrong path (a log, a device) from
// being read whole.
constexpr size_t kMaxConfigBytes = 1 << 20;

// The text before the first `#` that starts the line or follows whitespace.
absl::string_view StripComment(absl::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || absl::ascii_isspace(line[i - 1]))) return line.substr(0, i);
  }
  return line;
}

bool IsFlagName(absl::string_view key) {
  for (char c : key) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return !key.empty();
}

// Flags a config file may set: the program's own, not Abseil's (flagfile,
// fromenv, help, ...) nor the one naming the config file.
bool IsSettable(const absl::CommandLineFlag& flag) {
  return !flag.IsRetired() && flag.Name() != "config" &&
         !absl::StrContains(flag.Filename(), "absl/flags/");
}

std::string KnownKeys() {
  std::vector<absl::string_view> names;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsSettable(*flag)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return absl::StrJoin(names, ", ");
}

// What a value of the flag's type looks like, for the error message.
std::string ExpectedValue(const absl::CommandLineFlag& flag) {
  if (flag.IsOfType<bool>()) return "true or false";
  if (flag.IsOfType<int32_t>() || flag.IsOfType<int64_t>() || flag.IsOfType<uint32_t>() ||
      flag.IsOfType<uint64_t>()) {
    return "an integer";
  }
  if (flag.IsOfType<double>() || flag.IsOfType<float>()) return "a number";
  return "a value of the flag's type";
}

absl::Status Errors(const std::vector<std::string>& errors) {
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
}

}  // namespace

absl::StatusOr<std::vector<ConfigEntry>> ParseConfig(absl::string_view path,
                                                     absl::string_view text) {
  std::vector<ConfigEntry> entries;
  std::vector<std::string> errors;
  absl::flat_hash_map<std::string, int> first_line;
  int number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++number;
    const absl::string_view line = absl::StripAsciiWhitespace(StripComment(raw));
    if (line.empty()) continue;
    const std::string where = absl::StrCat(path, ":", number, ": ");
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos) {
      errors.push_back(absl::StrCat(where, "expected \"key = value\", got \"", line, "\""));
      continue;
    }
    const absl::string_view key = absl::StripTrailingAsciiWhitespace(line.substr(0, equals));
    if (absl::StartsWith(key, "-")) {
      errors.push_back(absl::StrCat(where, "key \"", key,
                                    "\": write the flag's name without the leading dashes"));
      continue;
    }
    if (!IsFlagName(key)) {
      errors.push_back(absl::StrCat(where, "bad key \"", key,
                                    "\" (a flag name: letters, digits and underscores)"));
      continue;
    }
    const auto [first, inserted] = first_line.emplace(std::string(key), number);
    if (!inserted) {
      errors.push_back(absl::StrCat(where, "duplicate key \"", key, "\" (first set on line ",
                                    first->second, ")"));
      continue;
    }
    entries.push_back({std::string(key),
                       std::string(absl::StripLeadingAsciiWhitespace(line.substr(equals + 1))),
                       number});
  }
  if (!errors.empty()) return Errors(errors);
  return entries;
}

absl::StatusOr<std::vector<ConfigEntry>> ReadConfigFile(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  const auto unreadable = [&](int error) {
    const std::string message = absl::StrCat(path, ": cannot read: ", std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::InvalidArgumentError(message);
  };
  if (file == nullptr) return unreadable(errno);
  std::string text(kMaxConfigBytes + 1, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), file.get()));
  if (std::ferror(file.get())) return unreadable(errno);  // EISDIR for a directory.
  if (text.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than ", kMaxConfigBytes, " bytes: not a config file"));
  }
  return ParseConfig(path, text);
}

absl::Status ApplyConfig(absl::string_view path, const std::vector<ConfigEntry>& entries) {
  std::vector<std::string> errors;
  for (const ConfigEntry& entry : entries) {
    const std::string where = absl::StrCat(path, ":", entry.line, ": ");
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(entry.key);
    if (flag == nullptr || !IsSettable(*flag)) {
      errors.push_back(
          absl::StrCat(where, "unknown key \"", entry.key, "\" (known: ", KnownKeys(), ")"));
      continue;
    }
    std::string ignored;  // Abseil's message repeats the value and the flag's name.
    if (!flag->ParseFrom(entry.value, &ignored)) {
      errors.push_back(absl::StrCat(where, "bad value \"", entry.value, "\" for ", entry.key,
                                    ": expected ", ExpectedValue(*flag)));
    }
  }
  return Errors(errors);
}

absl::Status LoadConfigFile(const std::string& path) {
  ASSIGN_OR_RETURN(const std::vector<ConfigEntry> entries, ReadConfigFile(path));
  return ApplyConfig(path, entries);
}

}  // namespace paramsync
