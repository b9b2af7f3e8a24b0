// File: coordinator/executor/sync_executor.h
// -----------------------------------------------------------------------------
// Runs a TransferPlan on the agents, one named phase per method, each calling
// every agent involved in parallel with a deadline (the Transfer from the
// calling thread through one RunTasksRound, the others on pool threads):
//   AssignGroupIds: once per plan, GPU groups get an NCCL unique id from the
//             agent of their first member (kept with the plan, so agents reuse
//             their communicators across syncs);
//   Prepare:  SetupGroups (create or confirm the collective groups);
//   Transfer: RunTasks; the first failure aborts the sync on every agent, so
//             none waits for its deadline. A warm-up runs every task without
//             tensors (connections and communicators are exercised, no byte of
//             a tensor moves). With the commit in band, each agent whose tasks
//             all succeeded commits its receiving endpoints before it answers,
//             saving the Commit round: an endpoint holds a version exactly when
//             all its bytes of it arrived, so a failed sync may still leave
//             some endpoints committed, and they are reported;
//   Commit:   only after a successful Transfer without the commit in band (a
//             validated sync checks the bytes first): inference endpoints are
//             told the version they now hold. A commit round that fails on
//             some agents reports which endpoints did commit, and its error
//             names every agent that did not confirm;
//   Digest:   a validated sync's digests, after its Transfer and before its
//             Commit (coordinator/executor/sync_validator.h);
//   Lora:     LoRA merge syncs (coordinator/sync/lora_merge_plan.h): before
//             the Transfer the trainer's agents merge adapters into the base
//             weights it reads; after the sync, committed or failed, they
//             restore them;
//   Free:     destroy the plan's collective groups on every agent.
// After Shutdown() every phase fails with UNAVAILABLE, including calls in flight.
//
// Liveness: with an agent registry that has leases, every phase watches the
// leases of the plan's agents while its calls are in flight. When one lapses
// (the agent died or froze: its heartbeats stopped) its calls are cancelled,
// a Transfer is aborted on every other agent at once, and the phase fails with
// UNAVAILABLE naming the agent, its address and its ranks. A Transfer whose
// agent became unreachable (killed: its calls fail and so does the Abort sent
// to it) fails the same way, without waiting for the lease. The status carries
// the agent (WithFailedAgent) for the error channel.
#ifndef PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_EXECUTOR_H_
#define PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_EXECUTOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/worker_pool.h"
#include "coordinator/executor/agent_client.h"
#include "coordinator/registry/agent_registry.h"
#include "coordinator/sync/transfer_plan_builder.h"

namespace paramsync::coordinator {

struct SyncOutcome {
  std::vector<double> stage_ms;  // Slowest agent per stage; index 0 is stage 1.
  int64_t bytes_received = 0;
  int64_t tensors_received = 0;
  double regroup_ms = 0;           // Slowest agent's regroups.
  int64_t peak_staging_bytes = 0;  // Largest agent peak.
};

// What a round of LoRA requests did, summed over its agents.
struct LoraOutcome {
  int64_t base_weights = 0;  // Merged or restored.
  int64_t saved_bytes = 0;   // MERGE: the copies of the base weights kept aside.
};

// What a Transfer runs.
enum class TransferMode {
  kWarmup,             // Every task without tensors.
  kTransfer,           // The tasks; a Commit follows.
  kTransferAndCommit,  // The tasks, each agent committing when its own succeeded.
};

class SyncExecutor {
 public:
  // `leases` (may be null: no lease watch) must outlive the executor.
  explicit SyncExecutor(AgentClientPool* agents, const AgentRegistry* leases = nullptr)
      : agents_(agents), leases_(leases) {}

  // Errors name the agent and the phase.
  absl::Status AssignGroupIds(TransferPlan& plan, absl::Time deadline);
  absl::Status Prepare(const TransferPlan& plan, absl::Time deadline);
  // Told each agent's answer as its RunTasks succeeds, on the calling thread.
  using AgentDoneHook = std::function<void(const v1::RunTasksResponse&)>;

  // kTransferAndCommit: the endpoints of agents that committed go to
  // `committed`, also when the Transfer fails elsewhere. `on_agent_done` (may
  // be null) reports progress.
  absl::StatusOr<SyncOutcome> Transfer(const TransferPlan& plan, uint64_t sync_id, int64_t version,
                                       TransferMode mode, absl::Time deadline,
                                       std::vector<v1::EndpointRef>* committed = nullptr,
                                       const AgentDoneHook& on_agent_done = nullptr);
  // Endpoints whose agent confirmed the commit go to `committed` (they hold
  // `version` now, whatever happened elsewhere); the error, if any, names every
  // agent that did not confirm and its endpoints (which may hold either
  // version: an agent that timed out may still have committed).
  absl::Status Commit(const TransferPlan& plan, uint64_t sync_id, int64_t version,
                      std::vector<v1::EndpointRef>* committed);
  // Each agent of `plan` computes the digests of requests[i] (its index in
  // `plan`; agents with no items are not called) for sync `sync_id`; their
  // answers, in the same order. A request with a plan_id is sent as the id
  // alone first, and with its items only to an agent that does not hold them
  // (NOT_FOUND). Errors name the agent.
  absl::StatusOr<std::vector<v1::DigestResponse>> Digest(
      const TransferPlan& plan, const std::vector<v1::DigestRequest>& requests, uint64_t sync_id,
      absl::Time deadline);
  // Sends `action` for sync `sync_id` to each agent of `plan` whose
  // requests[i] (its index in `plan`) names endpoints: MERGE with them,
  // RESTORE without (the agent restores whatever the sync merged). The error
  // names every agent that failed with its endpoints, and carries the first
  // (WithFailedAgent).
  absl::StatusOr<LoraOutcome> Lora(const TransferPlan& plan,
                                   const std::vector<v1::LoraRequest>& requests,
                                   v1::LoraAction action, uint64_t sync_id, absl::Time deadline);
  // Best effort: a failure only costs memory, and is logged.
  void Free(const TransferPlan& plan);

  void Shutdown();

 private:
  // Told the error naming an agent whose lease lapsed, after its calls were
  // cancelled.
  using LapseHook = std::function<void(const absl::Status& error)>;
  // The agents of a plan whose leases lapsed during a phase.
  struct Lapses {
    explicit Lapses(size_t agents) : errors(agents) {}
    std::vector<absl::Status> errors;  // By the agent's index in the plan.
    std::vector<size_t> order;         // Indices, in the order found.
  };

  // Whether phases watch their agents' leases.
  bool WatchingLeases() const;
  // Cancels the calls of agents of `plan` whose lease lapsed since the last
  // check (and those found before, again), adding the former to `lapses`
  // and telling `on_lapse` (may be null).
  void CheckLeases(const TransferPlan& plan, Lapses& lapses, const LapseHook& on_lapse);
  // A phase's status from its agents' results: UNAVAILABLE once shutting
  // down, else the error of the first agent whose lease lapsed, else the
  // first error.
  absl::Status PhaseResult(const std::vector<absl::Status>& results, const Lapses& lapses) const;
  // Runs `call` for every agent of `plan` at once, on pool threads, watching
  // their leases; see PhaseResult.
  absl::Status ForEachAgent(const TransferPlan& plan,
                            const std::function<absl::Status(const AgentWork&)>& call);
  // Each agent's answer to the Abort (OK for agents whose lease lapsed: not
  // sent to them).
  std::vector<absl::Status> AbortAll(const TransferPlan& plan, uint64_t sync_id,
                                     const absl::Status& cause);

  AgentClientPool* const agents_;
  const AgentRegistry* const leases_;
  std::atomic<bool> shutting_down_{false};
  WorkerPool workers_;
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_EXECUTOR_H_
