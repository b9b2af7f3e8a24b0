#include "client/ctl/command_line.h"

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace paramsync::ctl {
namespace {

absl::Status SetFlag(absl::CommandLineFlag& flag, absl::string_view value,
                     absl::string_view argument) {
  std::string error;
  if (flag.ParseFrom(value, &error)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("flag ", argument, ": ", error));
}

// The boolean flag `name` names as --noNAME, if any.
absl::CommandLineFlag* NegatedBool(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "no")) return nullptr;
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  return flag != nullptr && flag->IsOfType<bool>() ? flag : nullptr;
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional.insert(parsed.positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      parsed.positional.push_back(arg);
      continue;
    }
    absl::string_view body(arg);
    if (!absl::ConsumePrefix(&body, "--")) absl::ConsumePrefix(&body, "-");
    const size_t equals = body.find('=');
    const bool has_value = equals != absl::string_view::npos;
    const absl::string_view name = body.substr(0, equals);
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && !has_value) {
      if (absl::CommandLineFlag* negated = NegatedBool(name); negated != nullptr) {
        RETURN_IF_ERROR(SetFlag(*negated, "false", arg));
        continue;
      }
    }
    if (flag == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg));
    if (has_value) {
      RETURN_IF_ERROR(SetFlag(*flag, body.substr(equals + 1), arg));
    } else if (flag->IsOfType<bool>()) {
      RETURN_IF_ERROR(SetFlag(*flag, "true", arg));
    } else if (i + 1 < args.size()) {
      RETURN_IF_ERROR(SetFlag(*flag, args[++i], arg));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("flag ", arg, " needs a value"));
    }
  }
  return parsed;
}

}  // namespace paramsync::ctl
