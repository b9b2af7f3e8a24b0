// File: agent/metrics/agent_metrics.h
// -----------------------------------------------------------------------------
// An agent's Prometheus metrics (served at --metrics_listen):
//   paramsync_agent_task_runs_total{outcome}                 counter: RunTasks
//   paramsync_agent_task_run_duration_seconds{outcome}       histogram
//   paramsync_agent_stage_duration_seconds{stage}            histogram: regroup,
//       stage1, stage2 of successful runs (summed over staging waves)
//   paramsync_agent_transfer_bytes_total{direction,stage}    counter: bytes this
//       agent's endpoints sent (once per receiver) and received, by stage
//   paramsync_agent_collective_groups                        gauge: groups set
//       up here (on a GPU agent, each an NCCL communicator unless all its
//       members are on this GPU)
//   paramsync_agent_collective_group_setup_seconds{outcome}  histogram: setting
//       up a new group (NCCL: creating its communicator)
//   paramsync_agent_errors_total{call,code}                  counter: failed
//       AgentControl calls by method and status code
//   paramsync_agent_coordinator_connected                    gauge: 1 while
//       registered and heartbeating, else 0
// Outcomes and codes are status codes in lower case ("ok", "aborted", ...).
// No label names a tensor, rank or sync.
#ifndef PARAMSYNC_AGENT_METRICS_AGENT_METRICS_H_
#define PARAMSYNC_AGENT_METRICS_AGENT_METRICS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::agent {

class AgentMetrics {
 public:
  enum class Direction { kSent, kReceived };

  // Adds the families to `registry`, which must outlive this.
  explicit AgentMetrics(metrics::Registry* registry);

  // A RunTasks call took `elapsed` and ended with `result` (a failure is also
  // an error of the call).
  void RecordRun(absl::Duration elapsed, const absl::StatusOr<v1::RunTasksResponse>& result);
  // `bytes` of stage `stage` (1, 2, ...) moved in `direction`.
  void RecordTransfer(int stage, Direction direction, int64_t bytes);
  // Setting up a new collective group took `elapsed` and ended with `status`.
  void RecordGroupSetup(absl::Duration elapsed, const absl::Status& status);
  void SetCollectiveGroups(size_t count);
  // The AgentControl method `call` failed with `error`.
  void RecordError(absl::string_view call, const absl::Status& error);
  void SetCoordinatorConnected(bool connected);

 private:
  metrics::Family<metrics::Counter>& runs_;
  metrics::Family<metrics::Histogram>& run_seconds_;
  metrics::Family<metrics::Histogram>& stage_seconds_;
  metrics::Family<metrics::Counter>& transfer_bytes_;
  metrics::Family<metrics::Gauge>& groups_;
  metrics::Family<metrics::Histogram>& group_setup_seconds_;
  metrics::Family<metrics::Counter>& errors_;
  metrics::Family<metrics::Gauge>& connected_;
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_METRICS_AGENT_METRICS_H_
