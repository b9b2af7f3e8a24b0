// File: client/ctl/command_line.h
// -----------------------------------------------------------------------------
// paramsyncctl's command line, parsed against the Abseil flags linked into the
// binary. Unlike absl::ParseCommandLine, which exits with status 1 on a bad
// flag, a bad flag here is an error the caller turns into the usage exit code.
//
// Accepted: --name=value, --name value (non-boolean flags), --name and
// --noname (boolean flags), -h / --help, and `--` ending the flags. Anything
// else not starting with '-' is a positional argument (the command).
#ifndef PARAMSYNC_CLIENT_CTL_COMMAND_LINE_H_
#define PARAMSYNC_CLIENT_CTL_COMMAND_LINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace paramsync::ctl {

struct CommandLine {
  std::vector<std::string> positional;  // Without the program name.
  bool help = false;
};

// Sets the flags named in `args` (argv without the program name).
// INVALID_ARGUMENT naming the argument for an unknown flag, a missing value or
// one the flag's type does not accept.
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

}  // namespace paramsync::ctl

#endif  // PARAMSYNC_CLIENT_CTL_COMMAND_LINE_H_
