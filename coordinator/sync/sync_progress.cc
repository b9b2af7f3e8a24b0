#include "coordinator/sync/sync_progress.h"

#include <utility>

namespace paramsync::coordinator {

SyncProgressReporter::SyncProgressReporter(const std::string& group, SyncProgressCallback callback,
                                           absl::Time start)
    : callback_(std::move(callback)), start_(start) {
  event_.set_group(group);
}

void SyncProgressReporter::Begin(v1::SyncPhase phase) {
  if (!callback_) return;
  absl::MutexLock lock(&mu_);
  event_.set_phase(phase);
  event_.set_agents_done(0);
  Emit();
}

void SyncProgressReporter::SetTotals(int64_t bytes, int agents) {
  if (!callback_) return;
  absl::MutexLock lock(&mu_);
  event_.set_bytes_total(bytes);
  event_.set_agents_total(agents);
}

void SyncProgressReporter::SetVersion(int64_t version) {
  if (!callback_) return;
  absl::MutexLock lock(&mu_);
  event_.set_version(version);
}

void SyncProgressReporter::AgentDone(int64_t bytes) {
  if (!callback_) return;
  absl::MutexLock lock(&mu_);
  event_.set_agents_done(event_.agents_done() + 1);
  event_.set_bytes_done(event_.bytes_done() + bytes);
  Emit();
}

void SyncProgressReporter::Done(const v1::SyncResponse& report) {
  if (!callback_) return;
  absl::MutexLock lock(&mu_);
  event_.set_phase(v1::SYNC_PHASE_DONE);
  event_.set_version(report.version());
  event_.set_agents_done(event_.agents_total());
  *event_.mutable_report() = report;
  Emit();
}

void SyncProgressReporter::Emit() {
  event_.set_elapsed_ms(absl::ToDoubleMilliseconds(absl::Now() - start_));
  // Under the lock: events reach the callback one at a time and in order.
  callback_(event_);
}

}  // namespace paramsync::coordinator
