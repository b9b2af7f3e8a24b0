// File: coordinator/sync/sync_progress.h
// -----------------------------------------------------------------------------
// The progress of one sync, as SyncWithProgress streams it: an event as each
// phase begins and as each agent finishes the phase, with the bytes written so
// far. Agents' results arrive on the executor's threads, so the reporter is
// thread-safe and calls its callback one event at a time, in order.
//
// Example:
//   SyncProgressReporter progress("g", [](const v1::SyncProgress& e) { ... });
//   progress.Begin(v1::SYNC_PHASE_PLANNING);
//   progress.SetTotals(plan.dst_bytes, plan.agents.size());
//   progress.Begin(v1::SYNC_PHASE_TRANSFERRING);
//   progress.AgentDone(bytes_written);   // From any thread.
//   progress.Done(report);
#ifndef PARAMSYNC_COORDINATOR_SYNC_SYNC_PROGRESS_H_
#define PARAMSYNC_COORDINATOR_SYNC_SYNC_PROGRESS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::coordinator {

// Told each progress event of a sync. It runs on the sync's threads while the
// sync waits for it, so it must be quick (e.g. write to a stream).
using SyncProgressCallback = std::function<void(const v1::SyncProgress&)>;

class SyncProgressReporter {
 public:
  // Elapsed times count from `start`. A null `callback` makes every method a
  // no-op (a unary Sync).
  SyncProgressReporter(const std::string& group, SyncProgressCallback callback,
                       absl::Time start = absl::Now());

  // The sync enters `phase`: no agent has finished it yet.
  void Begin(v1::SyncPhase phase);
  // What the plan moves: destination bytes and agents taking part. No event.
  void SetTotals(int64_t bytes, int agents);
  // The version the sync commits. No event.
  void SetVersion(int64_t version);
  // One more agent finished the current phase, having written `bytes` into
  // destination tensors.
  void AgentDone(int64_t bytes);
  // The last event: the sync's report.
  void Done(const v1::SyncResponse& report);

 private:
  void Emit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SyncProgressCallback callback_;
  const absl::Time start_;
  absl::Mutex mu_;
  v1::SyncProgress event_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_SYNC_PROGRESS_H_
