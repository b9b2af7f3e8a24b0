// File: client/ctl/commands.h
// -----------------------------------------------------------------------------
// paramsyncctl's commands, one file each (commands_*.cc). Each reads the flags
// it takes (ctl_flags.h), prints its result to stdout in `context.output` (its
// error as output.h says) and returns its exit code (exit_codes.h).
#ifndef PARAMSYNC_CLIENT_CTL_COMMANDS_H_
#define PARAMSYNC_CLIENT_CTL_COMMANDS_H_

#include "absl/time/time.h"
#include "client/coordinator_client.h"
#include "client/ctl/exit_codes.h"
#include "client/ctl/output.h"

namespace paramsync::ctl {

struct CommandContext {
  client::CoordinatorClient* coordinator;  // Not called by an offline `plan`.
  OutputFormat output;
  absl::Duration timeout;  // Of each call to the coordinator.
};

// --topology=F: the ChatLearn-compatible plan of an offline topology (JSON: the
// golden-case form); --group=G: the plan the coordinator would run for a live
// group now (JSON: paramsync.v1.SyncPlan).
ExitCode RunPlan(const CommandContext& context);
// Agents (node, device, address, heartbeat age, ranks) and endpoints (model,
// rank, agent, held version).
ExitCode RunStatus(const CommandContext& context);
// Sync groups: spec, committed version, last sync and its outcome.
ExitCode RunGroups(const CommandContext& context);
ExitCode RunCreateGroup(const CommandContext& context);
// One sync with its progress (a bar on a terminal, lines otherwise; JSON: one
// object per event, the last carrying the report).
ExitCode RunSync(const CommandContext& context);
// The error channel, as events arrive, until --duration passes (default: until
// interrupted); with --since, first the recent events the coordinator holds.
ExitCode RunWatch(const CommandContext& context);

}  // namespace paramsync::ctl

#endif  // PARAMSYNC_CLIENT_CTL_COMMANDS_H_
