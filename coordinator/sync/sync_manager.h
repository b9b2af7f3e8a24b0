// File: coordinator/sync/sync_manager.h
// -----------------------------------------------------------------------------
// Sync groups and their syncs: creates groups, plans them from the registered
// endpoints, runs syncs through the executor, keeps each group's version and
// recent history, and publishes every failure on the error channel.
//
// A validated sync (SyncRequest.validate, or the group's spec) checks every
// destination tensor against its source before it commits
// (coordinator/executor/sync_validator.h): one that differs fails it closed.
//
// In a LORA_MODE_MERGE group whose trainer registered adapters, the trainer's
// agents merge them into the base weights the sync reads once the version is
// recorded, before any byte moves (lora_merge_plan.h), and restore them after
// everything else, committed or failed. A failed merge fails the sync with no
// endpoint written; a failed restore after a commit fails it with INTERNAL,
// saying the version was committed and whose base weights stay merged.
//
// Syncs of one group run one at a time (a second caller waits); syncs of
// different groups run concurrently. A group's plan (down to every agent's
// tasks) is cached and rebuilt only when the registered agents or endpoints
// changed since it was built.
//
// With a StateFile, groups, versions and history survive restarts: a version
// is recorded as issued before any agent is told to commit it (a failed write
// fails the sync with no endpoint committed, so agents and the file agree), and
// a committed sync's history entry is recorded before it is reported (if that
// write fails, the committed sync stands and the error channel says so). The next
// sync's version is always one more than the highest ever issued, so no number
// is reused, even after a commit round that failed part-way (whose version is
// then skipped).
#ifndef PARAMSYNC_COORDINATOR_SYNC_SYNC_MANAGER_H_
#define PARAMSYNC_COORDINATOR_SYNC_SYNC_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/errors/error_channel.h"
#include "coordinator/executor/sync_executor.h"
#include "coordinator/metrics/coordinator_metrics.h"
#include "coordinator/registry/agent_registry.h"
#include "coordinator/registry/endpoint_registry.h"
#include "coordinator/state/state_file.h"
#include "coordinator/sync/sync_progress.h"
#include "coordinator/sync/validation_plan.h"
#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::coordinator {

class SyncManager {
 public:
  static constexpr size_t kHistoryLimit = 64;

  // Pointers must outlive the manager; `state` may be null (nothing persists),
  // `metrics` too (nothing recorded).
  SyncManager(AgentRegistry* agents, EndpointRegistry* endpoints, SyncExecutor* executor,
              ErrorChannel* errors, StateFile* state = nullptr,
              CoordinatorMetrics* metrics = nullptr);

  // Takes the groups of the state file (none without one); call once, before
  // serving. A group whose spec is no longer valid fails it, naming the file.
  absl::Status Restore();

  // INVALID_ARGUMENT for a malformed spec; ALREADY_EXISTS when a group of that
  // name exists with another spec (the same spec again is accepted).
  absl::Status CreateGroup(const v1::SyncGroupSpec& spec);

  // The plan a sync of `group` would run now. NOT_FOUND for an unknown group or
  // model; FAILED_PRECONDITION or INVALID_ARGUMENT when the registered topology
  // cannot be synced (the message says why).
  absl::StatusOr<v1::SyncPlan> GetPlan(const std::string& group);

  // Runs one sync of `request.group()` (or its dry run / warm-up); see the file
  // comment. `progress` (may be null) is told each step once the group is
  // found (sync_progress.h).
  absl::StatusOr<v1::SyncResponse> Sync(const v1::SyncRequest& request, absl::Time deadline,
                                        const SyncProgressCallback& progress = nullptr);

  // Every group by name, with its committed version and how its last sync went;
  // never waits for a sync in progress.
  std::vector<v1::SyncGroupStatus> ListGroups();

  // The group's recent committed syncs, oldest first (waits for a sync of the
  // group in progress). NOT_FOUND for an unknown group.
  absl::StatusOr<std::vector<v1::SyncResponse>> History(const std::string& group);

  // How many plans were built (not served from the cache) so far.
  int64_t plans_built() const { return plans_built_; }

 private:
  struct PreparedSync;  // Participants, rank plan and transfer plan of a group.

  struct Group {
    v1::SyncGroupSpec spec;
    absl::Mutex sync_mu;                           // Held for the whole of one sync.
    int64_t version ABSL_GUARDED_BY(sync_mu) = 0;  // Committed by every endpoint.
    // Highest version sent in a Commit round (> version after one that failed).
    int64_t issued_version ABSL_GUARDED_BY(sync_mu) = 0;
    std::deque<v1::SyncResponse> history ABSL_GUARDED_BY(sync_mu);
    // The prepared sync whose collective groups every agent has set up (their
    // SetupGroups phase can be skipped); reset when a transfer fails (agents
    // may have aborted communicators) or groups are freed.
    std::shared_ptr<const PreparedSync> groups_ready_for ABSL_GUARDED_BY(sync_mu);

    absl::Mutex cache_mu;
    std::shared_ptr<const PreparedSync> cached ABSL_GUARDED_BY(cache_mu);
    // Registry generations `cached` was built from.
    int64_t cached_agents ABSL_GUARDED_BY(cache_mu) = -1;
    int64_t cached_endpoints ABSL_GUARDED_BY(cache_mu) = -1;

    // What ListGroups shows (spec aside), apart from sync_mu so that listing
    // never waits for a sync.
    absl::Mutex status_mu;
    v1::SyncGroupStatus status ABSL_GUARDED_BY(status_mu);
  };

  absl::StatusOr<std::shared_ptr<Group>> FindGroup(const std::string& name);
  // The group's prepared sync, from the cache when the registries did not change.
  absl::StatusOr<std::shared_ptr<const PreparedSync>> Prepared(Group& group);
  absl::StatusOr<v1::SyncResponse> RunSync(Group& group, const v1::SyncRequest& request,
                                           absl::Time deadline, SyncProgressReporter& progress)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(group.sync_mu);
  // `failure` of the sync of `version`, after marking every receiver of
  // `transfer` that did not commit it as interrupted (its bytes may be mixed).
  absl::Status Interrupted(const TransferPlan& transfer, int64_t version,
                           const std::vector<v1::EndpointRef>& committed, absl::Status failure);
  // Transfers, validates (with `validation`, else commits in band) and
  // commits `version`, filling in `response`; the group holds the version once
  // every endpoint committed it. Errors as SyncExecutor's, each receiver that
  // did not commit marked interrupted.
  absl::Status TransferVersion(Group& group, const PreparedSync& prepared,
                               const ValidationPlan* validation, uint64_t sync_id, int64_t version,
                               absl::Time deadline, SyncProgressReporter& progress,
                               v1::SyncResponse& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(group.sync_mu);
  // Completes `response` of a committed sync begun at `start` and records it
  // in the group's history (a failed write goes to the error channel).
  void RecordCommitted(Group& group, uint64_t sync_id, absl::Time start, v1::SyncResponse& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(group.sync_mu);
  // Records how a sync of `group` ended, for ListGroups.
  void RecordOutcome(Group& group, const v1::SyncRequest& request,
                     const absl::StatusOr<v1::SyncResponse>& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(group.sync_mu);
  // Writes the group's spec, versions and history to the state file, if any.
  absl::Status Persist(const Group& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(group.sync_mu);

  AgentRegistry* const agents_;
  EndpointRegistry* const endpoints_;
  SyncExecutor* const executor_;
  ErrorChannel* const errors_;
  StateFile* const state_;
  CoordinatorMetrics* const metrics_;
  std::atomic<uint64_t> next_sync_id_;
  std::atomic<int64_t> plans_built_{0};

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Group>> groups_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_SYNC_MANAGER_H_
