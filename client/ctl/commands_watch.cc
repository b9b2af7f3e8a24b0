// paramsyncctl watch: the error channel, followed as events arrive.
#include <iostream>
#include <set>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "client/ctl/commands.h"
#include "client/ctl/ctl_flags.h"

namespace paramsync::ctl {
namespace {

std::string EventLine(const v1::ErrorEvent& event) {
  const auto code = static_cast<absl::StatusCode>(event.code());
  return absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(event.time_unix_ms()),
                       absl::UTCTimeZone()),
      "  ", absl::StatusCodeToString(code), "  group=", event.group().empty() ? "-" : event.group(),
      " version=", event.version(), " agent=", event.agent_id().empty() ? "-" : event.agent_id(),
      "  ", event.message());
}

}  // namespace

ExitCode RunWatch(const CommandContext& context) {
  const absl::Duration since = absl::GetFlag(FLAGS_since);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  if (since < absl::ZeroDuration() || duration < absl::ZeroDuration()) {
    return ReportUsage("--since and --duration must not be negative");
  }
  const absl::Time end =
      duration > absl::ZeroDuration() ? absl::Now() + duration : absl::InfiniteFuture();
  // Replay from here (UnixEpoch: only events from now on).
  absl::Time resume = since > absl::ZeroDuration() ? absl::Now() - since : absl::UnixEpoch();
  // Following runs as a series of streams of at most --timeout_s each (no call
  // without a deadline), each resuming where the last began: the coordinator
  // replays what it published since, and what the last stream printed is skipped.
  std::set<std::string> printed;  // Events of the stream before.
  while (true) {
    const absl::Time stream_start = absl::Now();
    std::set<std::string> seen;
    absl::Status status = context.coordinator->WatchErrors(
        [&](const v1::ErrorEvent& event) {
          std::string key = event.SerializeAsString();
          if (printed.count(key) == 0 && seen.insert(std::move(key)).second) {
            std::cout << (context.output == OutputFormat::kJson ? ToJson(event) : EventLine(event))
                      << std::endl;
          }
          return true;
        },
        std::min(context.timeout, end - stream_start), resume);
    if (!status.ok()) return ReportFailure(status, context.output);
    if (absl::Now() >= end) return kExitOk;
    resume = stream_start;
    printed = std::move(seen);
  }
}

}  // namespace paramsync::ctl
