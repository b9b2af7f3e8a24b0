#include "agent/metrics/agent_metrics.h"

#include "absl/strings/str_cat.h"
#include "common/metrics/status_label.h"

namespace paramsync::agent {

AgentMetrics::AgentMetrics(metrics::Registry* registry)
    : runs_(registry->AddCounter("paramsync_agent_task_runs_total",
                                 "RunTasks calls (this agent's part of a sync), by outcome",
                                 {"outcome"})),
      run_seconds_(registry->AddHistogram("paramsync_agent_task_run_duration_seconds",
                                          "Duration of RunTasks calls, by outcome", {"outcome"},
                                          metrics::DurationBuckets())),
      stage_seconds_(registry->AddHistogram(
          "paramsync_agent_stage_duration_seconds",
          "Duration of each stage of successful RunTasks calls, summed over staging waves "
          "(regroup: HEP routed-expert regroups)",
          {"stage"}, metrics::DurationBuckets())),
      transfer_bytes_(registry->AddCounter(
          "paramsync_agent_transfer_bytes_total",
          "Bytes this agent's endpoints sent (counted once per receiver) and received, by stage",
          {"direction", "stage"})),
      groups_(registry->AddGauge("paramsync_agent_collective_groups",
                                 "Collective groups set up on this agent (GPU: NCCL "
                                 "communicators, but for groups whose members all live here)",
                                 {})),
      group_setup_seconds_(registry->AddHistogram(
          "paramsync_agent_collective_group_setup_seconds",
          "Setting up a new collective group (GPU: creating its NCCL communicator), by outcome",
          {"outcome"}, metrics::DurationBuckets())),
      errors_(registry->AddCounter("paramsync_agent_errors_total",
                                   "Failed AgentControl calls, by method and status code",
                                   {"call", "code"})),
      connected_(registry->AddGauge(
          "paramsync_agent_coordinator_connected",
          "1 while this agent is registered with the coordinator and heartbeating, else 0", {})) {
  groups_.Get({}).Set(0);
  connected_.Get({}).Set(0);
}

void AgentMetrics::RecordRun(absl::Duration elapsed,
                             const absl::StatusOr<v1::RunTasksResponse>& result) {
  const std::string outcome = metrics::StatusLabel(result.status().code());
  runs_.Get({outcome}).Increment();
  run_seconds_.Get({outcome}).Observe(absl::ToDoubleSeconds(elapsed));
  if (!result.ok()) {
    RecordError("RunTasks", result.status());
    return;
  }
  if (result->regroup_duration_ms() > 0) {
    stage_seconds_.Get({"regroup"}).Observe(result->regroup_duration_ms() / 1000);
  }
  for (int s = 0; s < result->stage_duration_ms_size(); ++s) {
    stage_seconds_.Get({absl::StrCat("stage", s + 1)}).Observe(result->stage_duration_ms(s) / 1000);
  }
}

void AgentMetrics::RecordTransfer(int stage, Direction direction, int64_t bytes) {
  transfer_bytes_
      .Get({direction == Direction::kSent ? "sent" : "received", absl::StrCat("stage", stage)})
      .Increment(static_cast<double>(bytes));
}

void AgentMetrics::RecordGroupSetup(absl::Duration elapsed, const absl::Status& status) {
  group_setup_seconds_.Get({metrics::StatusLabel(status.code())})
      .Observe(absl::ToDoubleSeconds(elapsed));
}

void AgentMetrics::SetCollectiveGroups(size_t count) {
  groups_.Get({}).Set(static_cast<double>(count));
}

void AgentMetrics::RecordError(absl::string_view call, const absl::Status& error) {
  errors_.Get({std::string(call), metrics::StatusLabel(error.code())}).Increment();
}

void AgentMetrics::SetCoordinatorConnected(bool connected) {
  connected_.Get({}).Set(connected ? 1 : 0);
}

}  // namespace paramsync::agent
