#include "coordinator/executor/sync_executor.h"

#include <glog/logging.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace paramsync::coordinator {
namespace {

// How long the coordinator gives agents to take an abort, a commit or a free.
constexpr absl::Duration kControlTimeout = absl::Seconds(5);

}  // namespace

absl::Status SyncExecutor::ForEachAgent(const TransferPlan& plan,
                                        const std::function<absl::Status(const AgentWork&)>& call) {
  auto unavailable = [] {
    return absl::UnavailableError("the coordinator is shutting down; the sync did not complete");
  };
  if (shutting_down_) return unavailable();
  // One blocking call per agent, all at once (a sync's agents wait for each
  // other), on kept threads. Thousands of agents would want the asynchronous
  // gRPC API instead.
  std::vector<absl::Status> results(plan.agents.size());
  workers_.Run(static_cast<int>(plan.agents.size()),
               [&](int i) { results[i] = call(plan.agents[i]); });
  // A shutdown cancels calls in flight: say why rather than CANCELLED.
  if (shutting_down_) return unavailable();
  for (const absl::Status& status : results) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status SyncExecutor::AssignGroupIds(TransferPlan& plan, absl::Time deadline) {
  // Groups with a member on a GPU agent, by the agent of their first member.
  std::map<std::string, std::vector<std::string>> groups_by_head;
  std::set<std::string> needed;
  std::map<std::string, bool> gpu_agent;
  for (const AgentWork& work : plan.agents)
    gpu_agent[work.agent.agent_id()] = work.agent.device_kind() == v1::DEVICE_KIND_GPU;
  for (const AgentWork& work : plan.agents) {
    for (const v1::CollectiveGroupSpec& group : work.groups.groups()) {
      bool on_gpu = false;
      for (const v1::GroupMember& m : group.members()) on_gpu |= gpu_agent[m.agent_id()];
      if (!on_gpu || !needed.insert(group.name()).second) continue;
      const std::string& head = group.members(0).agent_id();
      groups_by_head[head].push_back(group.name());
    }
  }
  if (needed.empty()) return absl::OkStatus();
  std::map<std::string, std::string> ids;
  absl::Mutex mu;
  absl::Status status = ForEachAgent(plan, [&](const AgentWork& work) -> absl::Status {
    auto it = groups_by_head.find(work.agent.agent_id());
    if (it == groups_by_head.end()) return absl::OkStatus();
    v1::NewGroupIdsRequest request;
    request.set_count(static_cast<int>(it->second.size()));
    absl::StatusOr<v1::NewGroupIdsResponse> response =
        agents_->Get(work.agent.address())->NewGroupIds(request, deadline);
    if (!response.ok()) return response.status();
    if (response->ids_size() != request.count()) {
      return absl::InternalError(absl::StrCat("agent ", work.agent.address(), " returned ",
                                              response->ids_size(), " group ids for ",
                                              request.count()));
    }
    absl::MutexLock lock(&mu);
    for (int i = 0; i < request.count(); ++i) ids[it->second[i]] = response->ids(i);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  for (AgentWork& work : plan.agents) {
    for (v1::CollectiveGroupSpec& group : *work.groups.mutable_groups()) {
      auto it = ids.find(group.name());
      if (it != ids.end()) group.set_nccl_unique_id(it->second);
    }
  }
  return absl::OkStatus();
}

absl::Status SyncExecutor::Prepare(const TransferPlan& plan, absl::Time deadline) {
  return ForEachAgent(plan, [&](const AgentWork& work) {
    return agents_->Get(work.agent.address())->SetupGroups(work.groups, deadline);
  });
}

void SyncExecutor::AbortAll(const TransferPlan& plan, uint64_t sync_id, const absl::Status& cause) {
  v1::AbortRequest abort;
  abort.set_sync_id(sync_id);
  abort.set_reason(std::string(cause.message()));
  (void)ForEachAgent(plan, [&](const AgentWork& work) {
    absl::Status status =
        agents_->Get(work.agent.address())->Abort(abort, absl::Now() + kControlTimeout);
    if (!status.ok()) LOG(WARNING) << "abort of sync " << sync_id << ": " << status;
    return status;
  });
}

absl::StatusOr<SyncOutcome> SyncExecutor::Transfer(const TransferPlan& plan, uint64_t sync_id,
                                                   int64_t version, bool empty_tasks,
                                                   absl::Time deadline) {
  SyncOutcome outcome;
  absl::Mutex mu;
  std::atomic<bool> aborted{false};
  absl::Status transferred = ForEachAgent(plan, [&](const AgentWork& work) -> absl::Status {
    // A sync names the plan its tasks were set up with; a warm-up sends them
    // without tensors.
    v1::RunTasksRequest request;
    request.set_sync_id(sync_id);
    request.set_version(version);
    if (empty_tasks || work.groups.plan_id() == 0) {
      *request.mutable_tasks() = work.tasks;
      if (empty_tasks) {
        for (v1::TransferTask& task : *request.mutable_tasks()->mutable_transfers()) {
          task.clear_tensors();
        }
        request.mutable_tasks()->clear_regroups();
      }
    } else {
      request.set_plan_id(work.groups.plan_id());
    }
    absl::StatusOr<v1::RunTasksResponse> response =
        agents_->Get(work.agent.address())->RunTasks(request, deadline);
    if (!response.ok()) {
      if (!aborted.exchange(true)) AbortAll(plan, sync_id, response.status());
      return response.status();
    }
    absl::MutexLock lock(&mu);
    outcome.bytes_received += response->bytes_received();
    outcome.tensors_received += response->tensors_received();
    outcome.regroup_ms = std::max(outcome.regroup_ms, response->regroup_duration_ms());
    outcome.peak_staging_bytes =
        std::max(outcome.peak_staging_bytes, response->peak_staging_bytes());
    const auto& stages = response->stage_duration_ms();
    if (outcome.stage_ms.size() < static_cast<size_t>(stages.size())) {
      outcome.stage_ms.resize(stages.size());
    }
    for (int s = 0; s < stages.size(); ++s) {
      outcome.stage_ms[s] = std::max(outcome.stage_ms[s], stages[s]);
    }
    return absl::OkStatus();
  });
  if (!transferred.ok()) return transferred;
  return outcome;
}

absl::Status SyncExecutor::Commit(const TransferPlan& plan, uint64_t sync_id, int64_t version) {
  return ForEachAgent(plan, [&](const AgentWork& work) {
    if (work.receivers.empty()) return absl::OkStatus();
    v1::CommitRequest commit;
    commit.set_sync_id(sync_id);
    commit.set_version(version);
    for (const v1::EndpointRef& ref : work.receivers) *commit.add_endpoints() = ref;
    return agents_->Get(work.agent.address())->Commit(commit, absl::Now() + kControlTimeout);
  });
}

void SyncExecutor::Free(const TransferPlan& plan) {
  absl::Status freed = ForEachAgent(plan, [&](const AgentWork& work) {
    v1::DestroyGroupsRequest destroy;
    for (const v1::CollectiveGroupSpec& group : work.groups.groups()) {
      destroy.add_names(group.name());
    }
    return agents_->Get(work.agent.address())
        ->DestroyGroups(destroy, absl::Now() + kControlTimeout);
  });
  if (!freed.ok()) LOG(WARNING) << "freeing collective groups: " << freed;
}

void SyncExecutor::Shutdown() {
  shutting_down_ = true;
  agents_->CancelAll();
}

}  // namespace paramsync::coordinator
