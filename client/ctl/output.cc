#include "client/ctl/output.h"

#include <google/protobuf/util/json_util.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/planner/plan_json.h"

namespace paramsync::ctl {

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "json") return OutputFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("--output is '", name, "'; accepted: table, json"));
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a valid message cannot fail.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

void PrintJsonLine(const google::protobuf::Message& message) {
  std::cout << ToJson(message) << std::endl;
}

std::string JsonObject(const std::vector<std::pair<std::string, std::string>>& members) {
  return absl::StrCat(
      "{",
      absl::StrJoin(members, ",",
                    [](std::string* out, const std::pair<std::string, std::string>& member) {
                      absl::StrAppend(out, "\"", member.first, "\":", member.second);
                    }),
      "}");
}

ExitCode ReportFailure(const absl::Status& status, OutputFormat format, bool sync_started) {
  std::cerr << "error: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
            << "\n";
  if (format == OutputFormat::kJson) std::cout << planner::ErrorToJson(status) << std::endl;
  return ExitCodeFor(status, sync_started);
}

ExitCode ReportUsage(absl::string_view message) {
  std::cerr << "usage error: " << message << "\nrun `paramsyncctl --help` for commands and flags\n";
  return kExitUsage;
}

}  // namespace paramsync::ctl
