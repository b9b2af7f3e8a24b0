// File: coordinator/metrics/coordinator_metrics.h
// -----------------------------------------------------------------------------
// The coordinator's Prometheus metrics (served at --metrics_listen):
//   paramsync_coordinator_syncs_total{group,outcome}            counter
//   paramsync_coordinator_sync_duration_seconds{group,outcome}  histogram
//   paramsync_coordinator_sync_phase_duration_seconds{group,phase}  histogram:
//       transfer_round and commit_round (the RPC rounds to the agents), regroup
//       (HEP) and stage1, stage2 (the slowest agent's stages)
//   paramsync_coordinator_sync_bytes_total{group}               counter
//   paramsync_coordinator_sync_last_bytes{group}                gauge
//   paramsync_coordinator_sync_last_bandwidth_bytes_per_second{group}  gauge
//   paramsync_coordinator_group_version{group}                  gauge
//   paramsync_coordinator_errors_total{code,source}             counter: error
//       channel events; source "sync" (tied to a group) or "agent"
//   paramsync_coordinator_agents_live                           gauge
//   paramsync_coordinator_endpoints{model,version}              gauge: endpoints
//       of each model by the version they hold (0: never synced)
// Outcomes and codes are status codes in lower case ("ok", "unavailable",
// ...). Bytes and bandwidth count committed syncs only; dry runs are not syncs.
// Label values are groups, models, versions currently held, phases and
// codes: bounded by the deployment, never by tensors or syncs.
#ifndef PARAMSYNC_COORDINATOR_METRICS_COORDINATOR_METRICS_H_
#define PARAMSYNC_COORDINATOR_METRICS_COORDINATOR_METRICS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"
#include "coordinator/registry/agent_registry.h"
#include "coordinator/registry/endpoint_registry.h"
#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::coordinator {

class CoordinatorMetrics {
 public:
  // Adds the families to `registry`; `agents` and `endpoints` are read at every
  // scrape. All three must outlive this.
  CoordinatorMetrics(metrics::Registry* registry, const AgentRegistry* agents,
                     const EndpointRegistry* endpoints);

  // A sync of `group` (not a dry run) ended after `elapsed` with `result`.
  void RecordSync(const std::string& group, absl::Duration elapsed,
                  const absl::StatusOr<v1::SyncResponse>& result);

  // An event was published on the error channel.
  void RecordError(const v1::ErrorEvent& event);

 private:
  metrics::Family<metrics::Counter>& syncs_;
  metrics::Family<metrics::Histogram>& sync_seconds_;
  metrics::Family<metrics::Histogram>& phase_seconds_;
  metrics::Family<metrics::Counter>& bytes_;
  metrics::Family<metrics::Gauge>& last_bytes_;
  metrics::Family<metrics::Gauge>& last_bandwidth_;
  metrics::Family<metrics::Gauge>& group_version_;
  metrics::Family<metrics::Counter>& errors_;
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_METRICS_COORDINATOR_METRICS_H_
