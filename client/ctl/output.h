// File: client/ctl/output.h
// -----------------------------------------------------------------------------
// How paramsyncctl prints: tables for people (--output=table, the default) or
// JSON for scripts (--output=json: protobuf's JSON mapping with the proto's
// field names, every field present, enums by name, 64-bit integers as
// strings). Errors go to stderr; with JSON output also to stdout as
// {"error": {"code": ..., "message": ...}}, so that a script reading stdout
// sees them.
#ifndef PARAMSYNC_CLIENT_CTL_OUTPUT_H_
#define PARAMSYNC_CLIENT_CTL_OUTPUT_H_

#include <google/protobuf/message.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/ctl/exit_codes.h"

namespace paramsync::ctl {

enum class OutputFormat { kTable, kJson };

// "table" or "json"; INVALID_ARGUMENT naming what is accepted otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name);

// `message` as one line of JSON.
std::string ToJson(const google::protobuf::Message& message);
// Prints it to stdout, flushed (a script may be reading line by line).
void PrintJsonLine(const google::protobuf::Message& message);

// One JSON object whose members are `members` (name, JSON text), in order.
std::string JsonObject(const std::vector<std::pair<std::string, std::string>>& members);

// Prints the error of a command that failed with `status` and returns its exit
// code (see ExitCodeFor for `sync_started`).
ExitCode ReportFailure(const absl::Status& status, OutputFormat format, bool sync_started = false);

// Prints a usage error with a pointer to --help; returns kExitUsage.
ExitCode ReportUsage(absl::string_view message);

// Prints a command's `result`: as JSON, or with `print_table`; or its error.
// Returns the exit code.
template <typename Message>
ExitCode PrintResult(const absl::StatusOr<Message>& result, OutputFormat format,
                     void (*print_table)(const Message&)) {
  if (!result.ok()) return ReportFailure(result.status(), format);
  if (format == OutputFormat::kJson) {
    PrintJsonLine(*result);
  } else {
    print_table(*result);
  }
  return kExitOk;
}

}  // namespace paramsync::ctl

#endif  // PARAMSYNC_CLIENT_CTL_OUTPUT_H_
