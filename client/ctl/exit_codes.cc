#include "client/ctl/exit_codes.h"

namespace paramsync::ctl {

const char kExitCodesHelp[] =
    "exit codes:\n"
    "  0  success\n"
    "  1  the operation failed otherwise (refused, unauthenticated, ...; message printed)\n"
    "  2  usage error: unknown command or flag, bad or missing value\n"
    "  3  the coordinator is unreachable or did not answer in time\n"
    "  4  the sync ran and failed (missing ranks, data, abort, an agent lost)\n"
    "  5  not found: unknown sync group or model (also when a sync needs it), unreadable\n"
    "     input file\n";

ExitCode ExitCodeFor(const absl::Status& status, bool sync_started) {
  if (status.ok()) return kExitOk;
  if (status.code() == absl::StatusCode::kNotFound) return kExitNotFound;
  if (sync_started) return kExitSyncFailed;
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    default:
      return kExitFailed;
  }
}

}  // namespace paramsync::ctl
