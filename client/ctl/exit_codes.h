// File: client/ctl/exit_codes.h
// -----------------------------------------------------------------------------
// paramsyncctl's exit codes: scripts branch on them, so they are part of its
// interface (listed by `paramsyncctl --help` and in README.md).
#ifndef PARAMSYNC_CLIENT_CTL_EXIT_CODES_H_
#define PARAMSYNC_CLIENT_CTL_EXIT_CODES_H_

#include "absl/status/status.h"

namespace paramsync::ctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,       // The operation failed otherwise (refused, unauthenticated, ...).
  kExitUsage = 2,        // Bad command line: unknown command or flag, bad or missing value.
  kExitUnavailable = 3,  // The coordinator is unreachable or did not answer in time.
  kExitSyncFailed = 4,   // The coordinator ran the sync and it failed (data, abort, agent).
  kExitNotFound = 5,     // Unknown sync group or model, or an unreadable input file.
};

// The exit code of a command that failed with `status`. `sync_started`: the
// coordinator took the sync (it sent a progress event), so whatever fails now
// is the sync's failure, even an agent's UNAVAILABLE; but NOT_FOUND (a model
// of the group is not registered) stays kExitNotFound.
ExitCode ExitCodeFor(const absl::Status& status, bool sync_started = false);

// The exit codes as `paramsyncctl --help` lists them.
extern const char kExitCodesHelp[];

}  // namespace paramsync::ctl

#endif  // PARAMSYNC_CLIENT_CTL_EXIT_CODES_H_
