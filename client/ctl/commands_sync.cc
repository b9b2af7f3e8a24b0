// paramsyncctl sync: one sync of a group, with its progress as it happens.
#include <unistd.h>

#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "client/ctl/commands.h"
#include "client/ctl/ctl_flags.h"
#include "client/ctl/human_units.h"
#include "client/ctl/progress_view.h"

namespace paramsync::ctl {
namespace {

void PrintReport(const std::string& group, bool dry_run, const v1::SyncResponse& report) {
  if (dry_run) {
    std::cout << absl::StrFormat(
        "group %s: dry run, collective groups set up in %.1f ms; version %d held\n", group,
        report.duration_ms(), report.version());
    return;
  }
  const double seconds = report.duration_ms() / 1000.0;
  std::cout << absl::StrFormat(
      "group %s: version %d, %d tensors, %s in %.1f ms (%s)\n", group, report.version(),
      report.tensors(), HumanBytes(report.bytes()), report.duration_ms(),
      HumanRate(seconds > 0 ? static_cast<double>(report.bytes()) / seconds : 0));
  for (const v1::StageReport& stage : report.stages()) {
    std::cout << absl::StrFormat("  %s: %.1f ms\n", stage.name(), stage.duration_ms());
  }
  std::cout << absl::StrFormat(
      "  transfer round %.1f ms, commit round %.1f ms, regroup %.1f ms, %d wave(s), peak "
      "staging %s\n",
      report.transfer_round_ms(), report.commit_round_ms(), report.regroup_ms(), report.waves(),
      HumanBytes(report.peak_staging_bytes()));
  if (report.wire_bytes() != report.bytes()) {
    std::cout << absl::StrFormat("  %s moved between ranks (receivers keep part of it)\n",
                                 HumanBytes(report.wire_bytes()));
  }
  if (report.validated()) {
    std::cout << absl::StrFormat("  validated: every tensor matches its source (%.1f ms)\n",
                                 report.validate_ms());
  }
  if (report.lora_base_weights() > 0) {
    std::cout << absl::StrFormat(
        "  LoRA: %d base weights merged for the sync (%.1f ms) and restored (%.1f ms)\n",
        report.lora_base_weights(), report.lora_merge_ms(), report.lora_restore_ms());
  }
}

}  // namespace

ExitCode RunSync(const CommandContext& context) {
  v1::SyncRequest request;
  request.set_group(absl::GetFlag(FLAGS_group));
  if (request.group().empty()) return ReportUsage("sync needs --group");
  request.set_dry_run(absl::GetFlag(FLAGS_dry_run));
  request.set_warmup(absl::GetFlag(FLAGS_warmup));
  request.set_validate(absl::GetFlag(FLAGS_validate));
  const bool json = context.output == OutputFormat::kJson;
  ProgressView view(std::cout, !json && isatty(STDOUT_FILENO) == 1);
  // Once an event arrived the coordinator took the sync: a failure is the sync's.
  bool started = false;
  absl::StatusOr<v1::SyncResponse> report = context.coordinator->SyncWithProgress(
      request,
      [&](const v1::SyncProgress& event) {
        started = true;
        if (json) {
          PrintJsonLine(event);
        } else {
          view.Show(event);
        }
      },
      context.timeout);
  view.Finish();
  if (!report.ok()) return ReportFailure(report.status(), context.output, started);
  if (!json) PrintReport(request.group(), request.dry_run(), *report);
  return kExitOk;
}

}  // namespace paramsync::ctl
