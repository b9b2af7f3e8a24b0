#include "coordinator/executor/sync_executor.h"

#include <glog/logging.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/unreachable_peer.h"
#include "coordinator/errors/error_channel.h"
#include "coordinator/executor/run_tasks_round.h"

namespace paramsync::coordinator {
namespace {

// How long the coordinator gives agents to take an abort, a commit or a free.
constexpr absl::Duration kControlTimeout = absl::Seconds(5);

// How long a Transfer's thread polls for answers without sleeping, from the
// start and after each answer (see RunTasksRound): a small sync's whole
// transfer, and the gap between its agents' answers.
constexpr absl::Duration kAnswerSpin = absl::Milliseconds(5);

// How often the leases of a phase's agents are checked while its calls are in
// flight: the delay it adds to detecting a dead agent, beyond its lease.
constexpr absl::Duration kLeaseCheckInterval = absl::Milliseconds(50);

// "agent ID at ADDRESS (model rank r, ...)": the agent and the ranks it serves
// in `plan`, for errors that blame it.
std::string DescribeAgent(const TransferPlan& plan, const v1::AgentInfo& agent) {
  std::set<std::pair<std::string, int>> ranks;
  for (const AgentWork& work : plan.agents) {
    for (const v1::CollectiveGroupSpec& group : work.groups.groups()) {
      for (const v1::GroupMember& member : group.members()) {
        if (member.agent_id() == agent.agent_id()) {
          ranks.emplace(member.model(), member.model_rank());
        }
      }
    }
  }
  std::vector<std::string> names;
  for (const auto& [model, rank] : ranks) names.push_back(absl::StrCat(model, " rank ", rank));
  return absl::StrCat("agent ", agent.agent_id(), " at ", agent.address(), " (",
                      names.empty() ? "no ranks" : absl::StrJoin(names, ", "), ")");
}

// "agent <id> at <address> (<model> rank <r>, ...): <message>": why `agent`,
// called for endpoints `refs` (EndpointRefs), failed a round.
template <typename Refs>
std::string RoundFailure(const v1::AgentInfo& agent, const Refs& refs, absl::string_view message) {
  std::vector<std::string> endpoints;
  for (const v1::EndpointRef& ref : refs) {
    endpoints.push_back(absl::StrCat(ref.model(), " rank ", ref.rank()));
  }
  return absl::StrCat("agent ", agent.agent_id(), " at ", agent.address(), " (",
                      absl::StrJoin(endpoints, ", "), "): ", message);
}

// UNAVAILABLE blaming `agent` of `plan` for `what`, carrying it for the error channel.
absl::Status AgentFailed(const TransferPlan& plan, const v1::AgentInfo& agent,
                         const std::string& what) {
  return WithFailedAgent(
      absl::UnavailableError(absl::StrCat(DescribeAgent(plan, agent), " ", what)),
      agent.agent_id());
}

// UNAVAILABLE blaming `agent` of `plan`, whose lease lapsed as `lease` says.
absl::Status LeaseLapsed(const TransferPlan& plan, const v1::AgentInfo& agent,
                         const absl::Status& lease) {
  return AgentFailed(plan, agent, absl::StrCat("failed: ", lease.message()));
}

absl::Status ShuttingDown() {
  return absl::UnavailableError("the coordinator is shutting down; the sync did not complete");
}

}  // namespace

bool SyncExecutor::WatchingLeases() const {
  return leases_ != nullptr && leases_->lease() != absl::ZeroDuration();
}

absl::Status SyncExecutor::PhaseResult(const std::vector<absl::Status>& results,
                                       const Lapses& lapses) const {
  // A shutdown cancels calls in flight: say why rather than CANCELLED.
  if (shutting_down_) return ShuttingDown();
  // The calls of an agent that stopped heartbeating were cancelled: blame it.
  if (!lapses.order.empty()) return lapses.errors[lapses.order.front()];
  for (const absl::Status& status : results) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status SyncExecutor::ForEachAgent(const TransferPlan& plan,
                                        const std::function<absl::Status(const AgentWork&)>& call) {
  if (shutting_down_) return ShuttingDown();
  // One blocking call per agent, all at once (a sync's agents wait for each
  // other), on kept threads. Thousands of agents would want the asynchronous
  // gRPC API instead, which the Transfer uses (RunTasksRound).
  const int count = static_cast<int>(plan.agents.size());
  std::vector<absl::Status> results(plan.agents.size());
  Lapses lapses(plan.agents.size());  // Written by the watcher only.
  if (!WatchingLeases() || count == 0) {
    workers_.Run(count, [&](int i) { results[i] = call(plan.agents[i]); });
    return PhaseResult(results, lapses);
  }
  // One more closure, 0, on the calling thread, watches the agents' leases
  // until every call returned.
  std::atomic<int> remaining{count};
  absl::Notification done;
  workers_.Run(count + 1, [&](int i) {
    if (i == 0) {
      while (!done.WaitForNotificationWithTimeout(kLeaseCheckInterval)) {
        CheckLeases(plan, lapses, nullptr);
      }
      return;
    }
    results[i - 1] = call(plan.agents[i - 1]);
    if (remaining.fetch_sub(1) == 1) done.Notify();
  });
  return PhaseResult(results, lapses);
}

void SyncExecutor::CheckLeases(const TransferPlan& plan, Lapses& lapses,
                               const LapseHook& on_lapse) {
  const absl::Time now = absl::Now();
  for (size_t i = 0; i < plan.agents.size(); ++i) {
    const v1::AgentInfo& agent = plan.agents[i].agent;
    if (!lapses.errors[i].ok()) {
      // Again: a call that started after the last cancel must not wait for
      // its deadline either.
      agents_->Get(agent.address())->CancelAll();
      continue;
    }
    absl::Status lease = leases_->CheckLease(agent.agent_id(), now);
    if (lease.ok()) continue;
    lapses.errors[i] = LeaseLapsed(plan, agent, lease);
    lapses.order.push_back(i);
    LOG(WARNING) << lapses.errors[i].message() << "; cancelling its calls";
    agents_->Get(agent.address())->CancelAll();
    agents_->Forget(agent.address());  // A fresh channel once it is back.
    if (on_lapse) on_lapse(lapses.errors[i]);
  }
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

std::vector<absl::Status> SyncExecutor::AbortAll(const TransferPlan& plan, uint64_t sync_id,
                                                 const absl::Status& cause) {
  v1::AbortRequest abort;
  abort.set_sync_id(sync_id);
  abort.set_reason(std::string(cause.message()));
  std::vector<absl::Status> results(plan.agents.size());
  (void)ForEachAgent(plan, [&](const AgentWork& work) {
    const size_t i = static_cast<size_t>(&work - plan.agents.data());
    // One that stopped heartbeating would only make everyone wait for the
    // timeout; its RunTasks call is cancelled, which aborts the sync there too.
    if (leases_ != nullptr && !leases_->CheckLease(work.agent.agent_id()).ok()) {
      return absl::OkStatus();
    }
    results[i] = agents_->Get(work.agent.address())->Abort(abort, absl::Now() + kControlTimeout);
    if (!results[i].ok()) {
      LOG(WARNING) << "sync abort not taken sync_id=" << sync_id
                   << " agent=" << work.agent.address() << ": " << results[i];
    }
    return results[i];
  });
  return results;
}

absl::StatusOr<SyncOutcome> SyncExecutor::Transfer(const TransferPlan& plan, uint64_t sync_id,
                                                   int64_t version, TransferMode mode,
                                                   absl::Time deadline,
                                                   std::vector<v1::EndpointRef>* committed,
                                                   const AgentDoneHook& on_agent_done) {
  if (shutting_down_) return ShuttingDown();
  const bool empty_tasks = mode == TransferMode::kWarmup;
  // Every call starts here and is awaited on this thread (see RunTasksRound).
  RunTasksRound round(kAnswerSpin);
  std::vector<std::shared_ptr<AgentClientInterface>> clients;  // Outlive their calls.
  for (size_t i = 0; i < plan.agents.size(); ++i) {
    const AgentWork& work = plan.agents[i];
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
    if (mode == TransferMode::kTransferAndCommit) {
      for (const v1::EndpointRef& ref : work.receivers) *request.add_commit_endpoints() = ref;
    }
    clients.push_back(agents_->Get(work.agent.address()));
    clients.back()->StartRunTasks(request, deadline, i, round);
  }

  SyncOutcome outcome;
  // How the transfer failed, for choosing whom to blame.
  absl::Status first_failure;                              // The earliest failed RunTasks.
  size_t first_failed = 0;                                 // Its agent's index.
  std::vector<absl::Status> failures(plan.agents.size());  // Each agent's RunTasks error.
  std::vector<absl::Status> abort_results;                 // Each agent's answer to the Abort.
  Lapses lapses(plan.agents.size());
  // The first failure aborts the sync on every agent (but those whose lease
  // lapsed), so that none waits for its deadline.
  bool aborted = false;
  auto abort_everywhere = [&](const absl::Status& cause) {
    if (aborted) return;
    aborted = true;
    abort_results = AbortAll(plan, sync_id, cause);
  };
  absl::Time next_lease_check = absl::Now() + kLeaseCheckInterval;
  while (round.outstanding() > 0) {
    std::optional<RunTasksRound::Answer> answer = round.Next(next_lease_check);
    if (!answer.has_value()) {
      if (WatchingLeases()) CheckLeases(plan, lapses, abort_everywhere);
      next_lease_check = absl::Now() + kLeaseCheckInterval;
      continue;
    }
    const size_t index = answer->index;
    if (!answer->result.ok()) {
      failures[index] = answer->result.status();
      if (first_failure.ok()) {
        first_failure = failures[index];
        first_failed = index;
      }
      abort_everywhere(failures[index]);
      continue;
    }
    const v1::RunTasksResponse& response = *answer->result;
    if (on_agent_done) on_agent_done(response);
    if (response.committed() && committed != nullptr) {
      const AgentWork& work = plan.agents[index];
      committed->insert(committed->end(), work.receivers.begin(), work.receivers.end());
    }
    outcome.bytes_received += response.bytes_received();
    outcome.tensors_received += response.tensors_received();
    outcome.regroup_ms = std::max(outcome.regroup_ms, response.regroup_duration_ms());
    outcome.peak_staging_bytes =
        std::max(outcome.peak_staging_bytes, response.peak_staging_bytes());
    const auto& stages = response.stage_duration_ms();
    if (outcome.stage_ms.size() < static_cast<size_t>(stages.size())) {
      outcome.stage_ms.resize(stages.size());
    }
    for (int s = 0; s < stages.size(); ++s) {
      outcome.stage_ms[s] = std::max(outcome.stage_ms[s], stages[s]);
    }
  }
  const absl::Status transferred = PhaseResult(failures, lapses);
  if (transferred.ok()) return outcome;
  if (shutting_down_ || !lapses.order.empty()) return transferred;
  // An agent that failed its RunTasks and could not even take the Abort is
  // gone (killed, or its host or network is): it is the cause, whatever its
  // peers reported about failed pushes to it.
  for (size_t i = 0; i < abort_results.size(); ++i) {
    if (failures[i].ok() || abort_results[i].code() != absl::StatusCode::kUnavailable) continue;
    agents_->Forget(plan.agents[i].agent.address());  // A fresh channel once it is back.
    return AgentFailed(plan, plan.agents[i].agent,
                       absl::StrCat("is unreachable (", failures[i].message(),
                                    "); the sync was aborted on the other agents"));
  }
  // A push that failed or went silent names its far end. Blame it: for
  // stopping its heartbeats if it did meanwhile (frozen), else for being cut
  // off from the pusher (both took the Abort).
  if (const std::string peer = UnreachablePeer(first_failure); !peer.empty()) {
    for (const AgentWork& work : plan.agents) {
      if (work.agent.agent_id() != peer) continue;
      if (leases_ != nullptr) {
        if (absl::Status lease = leases_->CheckLease(peer); !lease.ok()) {
          return LeaseLapsed(plan, work.agent, lease);
        }
      }
      return AgentFailed(
          plan, work.agent,
          absl::StrCat("is unreachable from ", DescribeAgent(plan, plan.agents[first_failed].agent),
                       ", though both still heartbeat (", first_failure.message(),
                       "); the sync was aborted on the other agents"));
    }
  }
  // Otherwise the earliest failure is the cause; the others follow from the abort.
  return first_failure.ok() ? transferred : first_failure;
}

absl::Status SyncExecutor::Commit(const TransferPlan& plan, uint64_t sync_id, int64_t version,
                                  std::vector<v1::EndpointRef>* committed) {
  // Not confirmed until an agent answers OK (a shutdown may skip the calls).
  std::vector<absl::Status> results(plan.agents.size(),
                                    absl::CancelledError("the commit was not sent"));
  const absl::Status round = ForEachAgent(plan, [&](const AgentWork& work) -> absl::Status {
    const size_t i = static_cast<size_t>(&work - plan.agents.data());
    if (work.receivers.empty()) return absl::OkStatus();
    v1::CommitRequest commit;
    commit.set_sync_id(sync_id);
    commit.set_version(version);
    for (const v1::EndpointRef& ref : work.receivers) *commit.add_endpoints() = ref;
    results[i] = agents_->Get(work.agent.address())->Commit(commit, absl::Now() + kControlTimeout);
    return results[i];
  });
  std::vector<std::string> unconfirmed;
  int confirmed_agents = 0;
  int committing_agents = 0;
  absl::StatusCode code = absl::StatusCode::kOk;
  for (size_t i = 0; i < plan.agents.size(); ++i) {
    const AgentWork& work = plan.agents[i];
    if (work.receivers.empty()) continue;
    ++committing_agents;
    if (results[i].ok()) {
      ++confirmed_agents;
      committed->insert(committed->end(), work.receivers.begin(), work.receivers.end());
      continue;
    }
    if (code == absl::StatusCode::kOk) code = results[i].code();
    unconfirmed.push_back(RoundFailure(work.agent, work.receivers, results[i].message()));
  }
  // Every agent confirmed: committed, even if a shutdown began meanwhile.
  if (unconfirmed.empty()) return absl::OkStatus();
  // None did because the coordinator is shutting down: the round says so.
  if (confirmed_agents == 0 && shutting_down_ && !round.ok()) return round;
  return absl::Status(
      code, absl::StrCat("commit of version ", version, " confirmed by ", confirmed_agents, " of ",
                         committing_agents, " agents; not by ", absl::StrJoin(unconfirmed, "; ")));
}

absl::StatusOr<std::vector<v1::DigestResponse>> SyncExecutor::Digest(
    const TransferPlan& plan, const std::vector<v1::DigestRequest>& requests, uint64_t sync_id,
    absl::Time deadline) {
  std::vector<v1::DigestResponse> responses(plan.agents.size());
  absl::Status round = ForEachAgent(plan, [&](const AgentWork& work) -> absl::Status {
    const size_t i = static_cast<size_t>(&work - plan.agents.data());
    if (i >= requests.size() || requests[i].items().empty()) return absl::OkStatus();
    const std::shared_ptr<AgentClientInterface> agent = agents_->Get(work.agent.address());
    absl::StatusOr<v1::DigestResponse> response = absl::NotFoundError("no plan named");
    if (requests[i].plan_id() != 0) {
      v1::DigestRequest named;
      named.set_sync_id(sync_id);
      named.set_plan_id(requests[i].plan_id());
      response = agent->Digest(named, deadline);
    }
    if (response.status().code() == absl::StatusCode::kNotFound) {
      v1::DigestRequest items = requests[i];
      items.set_sync_id(sync_id);
      response = agent->Digest(items, deadline);
    }
    if (!response.ok()) return response.status();
    if (response->digests_size() != requests[i].items_size()) {
      return absl::InternalError(absl::StrCat("agent ", work.agent.address(), " returned ",
                                              response->digests_size(), " digests for ",
                                              requests[i].items_size(), " items"));
    }
    responses[i] = *std::move(response);
    return absl::OkStatus();
  });
  if (!round.ok()) return round;
  return responses;
}

absl::StatusOr<LoraOutcome> SyncExecutor::Lora(const TransferPlan& plan,
                                               const std::vector<v1::LoraRequest>& requests,
                                               v1::LoraAction action, uint64_t sync_id,
                                               absl::Time deadline) {
  const std::string what = action == v1::LORA_ACTION_MERGE ? "merge" : "restore";
  const auto called = [&](size_t i) {
    return i < requests.size() && !requests[i].endpoints().empty();
  };
  // Not done until an agent answers OK (a shutdown may skip the calls).
  std::vector<absl::StatusOr<v1::LoraResponse>> results(
      plan.agents.size(), absl::CancelledError(absl::StrCat("the LoRA ", what, " was not sent")));
  const absl::Status round = ForEachAgent(plan, [&](const AgentWork& work) -> absl::Status {
    const size_t i = static_cast<size_t>(&work - plan.agents.data());
    if (!called(i)) return absl::OkStatus();
    v1::LoraRequest request;
    request.set_sync_id(sync_id);
    request.set_action(action);
    if (action == v1::LORA_ACTION_MERGE) *request.mutable_endpoints() = requests[i].endpoints();
    results[i] = agents_->Get(work.agent.address())->Lora(request, deadline);
    return results[i].status();
  });
  LoraOutcome outcome;
  std::vector<std::string> failed;
  int agents = 0;
  absl::Status first;
  std::string first_agent;
  for (size_t i = 0; i < plan.agents.size(); ++i) {
    if (!called(i)) continue;
    ++agents;
    if (results[i].ok()) {
      outcome.base_weights += results[i]->base_weights();
      outcome.saved_bytes += results[i]->saved_bytes();
      continue;
    }
    const v1::AgentInfo& agent = plan.agents[i].agent;
    if (first.ok()) {
      first = results[i].status();
      first_agent = agent.agent_id();
    }
    failed.push_back(RoundFailure(agent, requests[i].endpoints(), results[i].status().message()));
  }
  if (failed.empty()) return outcome;
  if (shutting_down_ && !round.ok()) return round;
  return WithFailedAgent(
      absl::Status(first.code(), absl::StrCat("LoRA ", what, " failed on ", failed.size(), " of ",
                                              agents, " agents: ", absl::StrJoin(failed, "; "))),
      first_agent);
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
