#include "coordinator/executor/sync_executor.h"

#include <glog/logging.h>

#include <algorithm>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace paramsync::coordinator {
namespace {

// How long the coordinator gives agents to take an abort or a commit.
constexpr absl::Duration kControlTimeout = absl::Seconds(5);

// Runs `call` for every agent of `plan` at once; returns the statuses in order.
std::vector<absl::Status> ForEachAgent(const TransferPlan& plan,
                                       const std::function<absl::Status(size_t)>& call) {
  std::vector<absl::Status> results(plan.agents.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < plan.agents.size(); ++i) {
    threads.emplace_back([&results, &call, i] { results[i] = call(i); });
  }
  for (std::thread& thread : threads) thread.join();
  return results;
}

absl::Status FirstError(const std::vector<absl::Status>& results) {
  for (const absl::Status& status : results) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SyncOutcome> SyncExecutor::Execute(const TransferPlan& plan, uint64_t sync_id,
                                                  int64_t version, bool free_groups,
                                                  absl::Time deadline) {
  auto unavailable = [] {
    return absl::UnavailableError("the coordinator is shutting down; the sync did not complete");
  };
  if (shutting_down_) return unavailable();

  absl::Status prepared = FirstError(ForEachAgent(plan, [&](size_t i) {
    return agents_->Get(plan.agents[i].agent.address())
        ->SetupGroups(plan.agents[i].groups, deadline);
  }));
  // A shutdown cancels calls in flight: say why rather than CANCELLED.
  if (shutting_down_) return unavailable();
  if (!prepared.ok()) return prepared;

  SyncOutcome outcome;
  absl::Mutex mu;
  std::atomic<bool> aborted{false};
  auto abort_all = [&](const absl::Status& cause) {
    if (aborted.exchange(true)) return;
    v1::AbortRequest abort;
    abort.set_sync_id(sync_id);
    abort.set_reason(std::string(cause.message()));
    ForEachAgent(plan, [&](size_t i) {
      absl::Status status =
          agents_->Get(plan.agents[i].agent.address())->Abort(abort, absl::Now() + kControlTimeout);
      if (!status.ok()) LOG(WARNING) << "abort of sync " << sync_id << ": " << status;
      return status;
    });
  };
  absl::Status transferred = FirstError(ForEachAgent(plan, [&](size_t i) -> absl::Status {
    v1::RunTasksRequest request = plan.agents[i].tasks;
    request.set_sync_id(sync_id);
    request.set_version(version);
    absl::StatusOr<v1::RunTasksResponse> response =
        agents_->Get(plan.agents[i].agent.address())->RunTasks(request, deadline);
    if (!response.ok()) {
      abort_all(response.status());
      return response.status();
    }
    absl::MutexLock lock(&mu);
    outcome.bytes_received += response->bytes_received();
    outcome.tensors_received += response->tensors_received();
    const auto& stages = response->stage_duration_ms();
    if (outcome.stage_ms.size() < static_cast<size_t>(stages.size())) {
      outcome.stage_ms.resize(stages.size());
    }
    for (int s = 0; s < stages.size(); ++s) {
      outcome.stage_ms[s] = std::max(outcome.stage_ms[s], stages[s]);
    }
    return absl::OkStatus();
  }));
  if (shutting_down_) return unavailable();
  if (!transferred.ok()) return transferred;

  absl::Status committed = FirstError(ForEachAgent(plan, [&](size_t i) {
    if (plan.agents[i].receivers.empty()) return absl::OkStatus();
    v1::CommitRequest commit;
    commit.set_sync_id(sync_id);
    commit.set_version(version);
    for (const v1::EndpointRef& ref : plan.agents[i].receivers) *commit.add_endpoints() = ref;
    return agents_->Get(plan.agents[i].agent.address())
        ->Commit(commit, absl::Now() + kControlTimeout);
  }));
  if (!committed.ok()) return committed;
  if (free_groups) {
    // The sync is committed whatever happens here: a failure only costs memory.
    ForEachAgent(plan, [&](size_t i) {
      v1::DestroyGroupsRequest destroy;
      for (const v1::CollectiveGroupSpec& g : plan.agents[i].groups.groups()) {
        destroy.add_names(g.name());
      }
      absl::Status status = agents_->Get(plan.agents[i].agent.address())
                                ->DestroyGroups(destroy, absl::Now() + kControlTimeout);
      if (!status.ok()) LOG(WARNING) << "freeing groups of sync " << sync_id << ": " << status;
      return status;
    });
  }
  return outcome;
}

void SyncExecutor::Shutdown() {
  shutting_down_ = true;
  agents_->CancelAll();
}

}  // namespace paramsync::coordinator
