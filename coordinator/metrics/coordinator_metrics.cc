#include "coordinator/metrics/coordinator_metrics.h"

#include "absl/strings/str_cat.h"
#include "common/metrics/status_label.h"

namespace paramsync::coordinator {

CoordinatorMetrics::CoordinatorMetrics(metrics::Registry* registry, const AgentRegistry* agents,
                                       const EndpointRegistry* endpoints)
    : syncs_(registry->AddCounter("paramsync_coordinator_syncs_total",
                                  "Syncs run (dry runs excluded), by group and outcome",
                                  {"group", "outcome"})),
      sync_seconds_(registry->AddHistogram(
          "paramsync_coordinator_sync_duration_seconds",
          "Wall time of a sync as the coordinator saw it, by group and outcome",
          {"group", "outcome"}, metrics::DurationBuckets())),
      phase_seconds_(registry->AddHistogram(
          "paramsync_coordinator_sync_phase_duration_seconds",
          "Parts of a committed sync: transfer_round and commit_round (RPC rounds to the "
          "agents), regroup (HEP) and stage1, stage2 (the slowest agent's stages)",
          {"group", "phase"}, metrics::DurationBuckets())),
      bytes_(registry->AddCounter("paramsync_coordinator_sync_bytes_total",
                                  "Bytes written into inference tensors by committed syncs",
                                  {"group"})),
      last_bytes_(registry->AddGauge("paramsync_coordinator_sync_last_bytes",
                                     "Bytes the group's last committed sync wrote", {"group"})),
      last_bandwidth_(registry->AddGauge(
          "paramsync_coordinator_sync_last_bandwidth_bytes_per_second",
          "Bytes of the group's last committed sync divided by its wall time", {"group"})),
      group_version_(registry->AddGauge("paramsync_coordinator_group_version",
                                        "Version the group's last committed sync made "
                                        "every inference endpoint hold",
                                        {"group"})),
      errors_(registry->AddCounter(
          "paramsync_coordinator_errors_total",
          "Events on the error channel, by status code and source (sync: tied to a group; "
          "agent: reported by or about an agent outside a sync)",
          {"code", "source"})) {
  registry->AddComputedGauge(
      "paramsync_coordinator_agents_live", "Agents registered and within their lease", {},
      [agents] {
        return std::vector<metrics::GaugeValue>{{{}, static_cast<double>(agents->List().size())}};
      });
  registry->AddComputedGauge(
      "paramsync_coordinator_endpoints",
      "Registered endpoints by model and the weights version they hold (0: never synced)",
      {"model", "version"}, [endpoints] {
        std::vector<metrics::GaugeValue> values;
        for (const auto& [key, count] : endpoints->CountByVersion()) {
          values.push_back({{key.first, absl::StrCat(key.second)}, static_cast<double>(count)});
        }
        return values;
      });
}

void CoordinatorMetrics::RecordSync(const std::string& group, absl::Duration elapsed,
                                    const absl::StatusOr<v1::SyncResponse>& result) {
  const std::string outcome = metrics::StatusLabel(result.status().code());
  syncs_.Get({group, outcome}).Increment();
  sync_seconds_.Get({group, outcome}).Observe(absl::ToDoubleSeconds(elapsed));
  if (!result.ok()) return;
  auto phase = [&](const std::string& name, double ms) {
    phase_seconds_.Get({group, name}).Observe(ms / 1000);
  };
  phase("transfer_round", result->transfer_round_ms());
  // Absent rather than zero: no separate commit round when agents commit as
  // their tasks succeed, no regroup outside HEP groups.
  if (result->commit_round_ms() > 0) phase("commit_round", result->commit_round_ms());
  if (result->regroup_ms() > 0) phase("regroup", result->regroup_ms());
  for (const v1::StageReport& stage : result->stages()) phase(stage.name(), stage.duration_ms());
  const double bytes = static_cast<double>(result->bytes());
  bytes_.Get({group}).Increment(bytes);
  last_bytes_.Get({group}).Set(bytes);
  if (result->duration_ms() > 0) {
    last_bandwidth_.Get({group}).Set(bytes / (result->duration_ms() / 1000));
  }
  group_version_.Get({group}).Set(static_cast<double>(result->version()));
}

void CoordinatorMetrics::RecordError(const v1::ErrorEvent& event) {
  errors_
      .Get({metrics::StatusLabel(static_cast<absl::StatusCode>(event.code())),
            event.group().empty() ? "agent" : "sync"})
      .Increment();
}

}  // namespace paramsync::coordinator
