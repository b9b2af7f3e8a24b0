#include "coordinator/sync/sync_manager.h"

#include <glog/logging.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/planner/plan_builder.h"
#include "coordinator/planner/plan_verifier.h"
#include "coordinator/registry/endpoint_validation.h"
#include "coordinator/sync/sync_participants.h"
#include "coordinator/sync/transfer_plan_builder.h"

namespace paramsync::coordinator {
namespace {

absl::Status ValidateGroupName(const std::string& name) {
  if (name.empty() || name.size() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("group.name must be 1 to 256 characters, got ", name.size()));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return absl::InvalidArgumentError(absl::StrCat(
          "group.name '", name, "' has character '", std::string(1, c),
          "'; accepted: letters, digits, '_', '-', '.' (it prefixes collective group names)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateGroupSpec(const v1::SyncGroupSpec& spec) {
  RETURN_IF_ERROR(ValidateGroupName(spec.name()));
  for (auto [field, model] :
       {std::pair{"src_model", &spec.src_model()}, std::pair{"dst_model", &spec.dst_model()}}) {
    if (model->empty() || model->size() > kMaxNameLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("group.", field, " must name a registered model"));
    }
  }
  if (spec.src_model() == spec.dst_model()) {
    return absl::InvalidArgumentError(absl::StrCat("group.src_model and group.dst_model are both '",
                                                   spec.src_model(), "'; they must differ"));
  }
  if (!v1::CommType_IsValid(spec.comm_type())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group.comm_type is ", spec.comm_type(),
        "; accepted: COMM_TYPE_BROADCAST (1), COMM_TYPE_P2P (2), or unset for broadcast"));
  }
  if (!v1::RegroupCommType_IsValid(spec.regroup_comm_type())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group.regroup_comm_type is ", spec.regroup_comm_type(),
        "; accepted: REGROUP_COMM_TYPE_ALLTOALL (1), REGROUP_COMM_TYPE_ALLGATHER (2), or unset "
        "for all-to-all"));
  }
  return absl::OkStatus();
}

v1::RankList ToRankList(const std::vector<int>& ranks) {
  v1::RankList out;
  for (int r : ranks) out.add_ranks(r);
  return out;
}

void AddPairs(const std::vector<std::pair<int, int>>& pairs,
              google::protobuf::RepeatedPtrField<v1::RankPair>* out) {
  for (const auto& [src, dst] : pairs) {
    v1::RankPair* pair = out->Add();
    pair->set_src(src);
    pair->set_dst(dst);
  }
}

v1::SyncPlan ToProto(const planner::SyncPlan& plan, bool hep) {
  v1::SyncPlan out;
  out.set_comm_type(plan.comm_type == planner::CommType::kP2P ? v1::COMM_TYPE_P2P
                                                              : v1::COMM_TYPE_BROADCAST);
  out.set_tp_num_mapping(plan.tp_num_mapping);
  for (const auto& ranks : plan.src_dp_ranks) *out.add_src_dp_ranks() = ToRankList(ranks);
  for (const auto& ranks : plan.dst_dp_ranks) *out.add_dst_dp_ranks() = ToRankList(ranks);
  AddPairs(plan.stage1, out.mutable_stage1());
  AddPairs(plan.stage2, out.mutable_stage2());
  AddPairs(plan.routed_experts, out.mutable_routed_experts());
  if (hep) {
    out.set_regroup_comm_type(plan.regroup_comm_type == planner::RegroupCommType::kAllGather
                                  ? v1::REGROUP_COMM_TYPE_ALLGATHER
                                  : v1::REGROUP_COMM_TYPE_ALLTOALL);
    for (const auto& ranks : plan.regroup_groups) *out.add_regroup_groups() = ToRankList(ranks);
  }
  for (const std::string& name : plan.collective_groups) out.add_collective_groups(name);
  for (int rank : plan.send_order) out.add_send_order(rank);
  return out;
}

// Group ids come from agents while a plan is prepared.
constexpr absl::Duration kGroupIdTimeout = absl::Seconds(10);

}  // namespace

struct SyncManager::PreparedSync {
  SyncParticipants participants;
  planner::SyncPlan plan;
  TransferPlan transfer;
};

absl::StatusOr<std::shared_ptr<const SyncManager::PreparedSync>> SyncManager::Prepared(
    Group& group) {
  // Generations first: a registration racing with the snapshot below makes the
  // cache entry look older than it is, never newer.
  const int64_t agents_generation = agents_->generation();
  const int64_t endpoints_generation = endpoints_->generation();
  {
    absl::MutexLock lock(&group.cache_mu);
    if (group.cached != nullptr && group.cached_agents == agents_generation &&
        group.cached_endpoints == endpoints_generation) {
      return group.cached;
    }
  }
  absl::flat_hash_map<std::string, v1::AgentInfo> agent_map;
  for (v1::AgentInfo& agent : agents_->List()) agent_map[agent.agent_id()] = std::move(agent);
  auto prepared = std::make_shared<PreparedSync>();
  ASSIGN_OR_RETURN(prepared->participants,
                   BuildSyncParticipants(group.spec, endpoints_->Model(group.spec.src_model()),
                                         endpoints_->Model(group.spec.dst_model()), agent_map));
  ASSIGN_OR_RETURN(prepared->plan, planner::BuildSyncPlan(prepared->participants.topology));
  // Fail closed: no byte moves on a plan that would leave a rank without weights,
  // write one twice or ask NCCL for a group it cannot form.
  RETURN_IF_ERROR(planner::VerifySyncPlan(prepared->participants.topology, prepared->plan));
  TransferOptions options;
  if (group.spec.staging_budget_bytes() != 0) {
    options.staging_budget_bytes = group.spec.staging_budget_bytes();
  }
  ASSIGN_OR_RETURN(prepared->transfer,
                   BuildTransferPlan(prepared->plan, prepared->participants, options));
  RETURN_IF_ERROR(executor_->AssignGroupIds(prepared->transfer, absl::Now() + kGroupIdTimeout));
  // Agents keep the plan's tasks from SetupGroups; each sync then only names it.
  const uint64_t plan_id = next_sync_id_++;
  for (AgentWork& work : prepared->transfer.agents) {
    work.groups.set_plan_id(plan_id);
    *work.groups.mutable_tasks() = work.tasks;
  }
  ++plans_built_;
  absl::MutexLock lock(&group.cache_mu);
  group.cached = prepared;
  group.cached_agents = agents_generation;
  group.cached_endpoints = endpoints_generation;
  return prepared;
}

SyncManager::SyncManager(AgentRegistry* agents, EndpointRegistry* endpoints, SyncExecutor* executor,
                         ErrorChannel* errors, StateFile* state)
    : agents_(agents),
      endpoints_(endpoints),
      executor_(executor),
      errors_(errors),
      state_(state),
      // Distinct from the ids of an earlier coordinator process, which agents
      // may still remember as aborted.
      next_sync_id_(static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())) << 16) {}

absl::Status SyncManager::Restore() {
  if (state_ == nullptr) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  for (v1::SyncGroupState& saved : state_->Groups()) {
    const std::string name = saved.spec().name();
    if (absl::Status valid = ValidateGroupSpec(saved.spec()); !valid.ok()) {
      return absl::DataLossError(
          absl::StrCat("state file ", state_->path(), ": group '", name, "': ", valid.message()));
    }
    auto group = std::make_shared<Group>();
    group->spec = saved.spec();
    absl::MutexLock sync_lock(&group->sync_mu);
    group->version = saved.committed_version();
    group->issued_version = saved.issued_version();
    group->history.assign(saved.history().begin(), saved.history().end());
    LOG(INFO) << "restored sync group " << name << " (" << group->spec.src_model() << " -> "
              << group->spec.dst_model() << ") from " << state_->path() << ": version "
              << group->version << " committed, the next sync commits version "
              << group->issued_version + 1;
    groups_[name] = std::move(group);
  }
  return absl::OkStatus();
}

absl::Status SyncManager::Persist(const Group& group) {
  if (state_ == nullptr) return absl::OkStatus();
  v1::SyncGroupState saved;
  *saved.mutable_spec() = group.spec;
  saved.set_committed_version(group.version);
  saved.set_issued_version(group.issued_version);
  for (const v1::SyncResponse& sync : group.history) *saved.add_history() = sync;
  return state_->Put(std::move(saved));
}

absl::StatusOr<std::vector<v1::SyncResponse>> SyncManager::History(const std::string& name) {
  ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(name));
  absl::MutexLock lock(&group->sync_mu);
  return std::vector<v1::SyncResponse>(group->history.begin(), group->history.end());
}

absl::Status SyncManager::CreateGroup(const v1::SyncGroupSpec& spec) {
  RETURN_IF_ERROR(ValidateGroupSpec(spec));
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(spec.name());
  if (it != groups_.end()) {
    if (it->second->spec.SerializeAsString() == spec.SerializeAsString()) return absl::OkStatus();
    return absl::AlreadyExistsError(
        absl::StrCat("sync group '", spec.name(), "' already exists with another spec (",
                     it->second->spec.src_model(), " -> ", it->second->spec.dst_model(), ")"));
  }
  auto group = std::make_shared<Group>();
  group->spec = spec;
  {
    absl::MutexLock sync_lock(&group->sync_mu);
    if (absl::Status recorded = Persist(*group); !recorded.ok()) {
      return absl::Status(recorded.code(), absl::StrCat("sync group '", spec.name(),
                                                        "' not created: ", recorded.message()));
    }
  }
  groups_[spec.name()] = std::move(group);
  LOG(INFO) << "created sync group " << spec.name() << ": " << spec.src_model() << " -> "
            << spec.dst_model();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SyncManager::Group>> SyncManager::FindGroup(
    const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(name);
  if (it == groups_.end()) {
    return absl::NotFoundError(
        absl::StrCat("sync group '", name, "' does not exist; create it with CreateSyncGroup"));
  }
  return it->second;
}

absl::StatusOr<v1::SyncPlan> SyncManager::GetPlan(const std::string& group_name) {
  ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_name));
  // Prepared down to parameters, so a plan that would fail a sync fails here too.
  ASSIGN_OR_RETURN(std::shared_ptr<const PreparedSync> prepared, Prepared(*group));
  return ToProto(prepared->plan, group->spec.hep());
}

absl::StatusOr<v1::SyncResponse> SyncManager::Sync(const v1::SyncRequest& request,
                                                   absl::Time deadline) {
  ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(request.group()));
  absl::MutexLock lock(&group->sync_mu);
  const int64_t attempted = group->issued_version + 1;  // As RunSync numbers it.
  absl::StatusOr<v1::SyncResponse> result = RunSync(*group, request, deadline);
  if (!result.ok()) {
    LOG(ERROR) << "sync of group " << request.group() << " version " << attempted
               << " failed: " << result.status();
    errors_->Publish(result.status(), "", request.group(), attempted);
  }
  return result;
}

absl::StatusOr<v1::SyncResponse> SyncManager::RunSync(Group& group, const v1::SyncRequest& request,
                                                      absl::Time deadline) {
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(std::shared_ptr<const PreparedSync> prepared, Prepared(group));
  const TransferPlan& transfer = prepared->transfer;
  if (group.groups_ready_for != prepared || request.dry_run()) {
    group.groups_ready_for.reset();
    RETURN_IF_ERROR(executor_->Prepare(transfer, deadline));
    group.groups_ready_for = prepared;
  }
  if (request.warmup()) {
    absl::Status warmed = executor_
                              ->Transfer(transfer, next_sync_id_++, group.version,
                                         /*empty_tasks=*/true, deadline)
                              .status();
    if (!warmed.ok()) {
      group.groups_ready_for.reset();
      return warmed;
    }
  }
  v1::SyncResponse response;
  if (request.dry_run()) {
    response.set_version(group.version);
    response.set_duration_ms(absl::ToDoubleMilliseconds(absl::Now() - start));
    LOG(INFO) << "dry run of group " << group.spec.name()
              << (request.warmup() ? " with" : " without") << " warm-up: " << transfer.agents.size()
              << " agents ready";
    return response;
  }
  const int64_t version = group.issued_version + 1;
  const uint64_t sync_id = next_sync_id_++;
  const absl::Time transfer_start = absl::Now();
  absl::StatusOr<SyncOutcome> outcome =
      executor_->Transfer(transfer, sync_id, version, /*empty_tasks=*/false, deadline);
  if (!outcome.ok()) {
    group.groups_ready_for.reset();
    return outcome.status();
  }
  if (outcome->bytes_received != transfer.dst_bytes) {
    return absl::InternalError(absl::StrCat("agents wrote ", outcome->bytes_received,
                                            " bytes, the plan needs ", transfer.dst_bytes));
  }
  const absl::Time transfer_end = absl::Now();
  // Durable before any agent may commit it: a restarted coordinator never
  // issues this version again. If the write fails no agent is told to commit.
  group.issued_version = version;
  if (absl::Status recorded = Persist(group); !recorded.ok()) {
    group.issued_version = version - 1;
    return absl::Status(recorded.code(),
                        absl::StrCat("version ", version,
                                     " not committed (no endpoint was told to; each keeps the "
                                     "version it held): recording it failed: ",
                                     recorded.message()));
  }
  const absl::Time commit_start = absl::Now();
  std::vector<v1::EndpointRef> committed;
  const absl::Status commit = executor_->Commit(transfer, sync_id, version, &committed);
  // Each endpoint's status shows what its agent confirmed, even when others failed.
  for (const v1::EndpointRef& ref : committed) {
    endpoints_->SetVersion(ref.model(), ref.rank(), version);
  }
  RETURN_IF_ERROR(commit);
  response.set_commit_round_ms(absl::ToDoubleMilliseconds(absl::Now() - commit_start));
  response.set_transfer_round_ms(absl::ToDoubleMilliseconds(transfer_end - transfer_start));
  group.version = version;
  if (group.spec.free_groups()) {
    executor_->Free(transfer);
    group.groups_ready_for.reset();
  }
  response.set_version(version);
  response.set_tensors(transfer.dst_tensors);
  response.set_bytes(transfer.dst_bytes);
  response.set_regroup_ms(outcome->regroup_ms);
  response.set_peak_staging_bytes(outcome->peak_staging_bytes);
  response.set_waves(transfer.waves);
  response.set_duration_ms(absl::ToDoubleMilliseconds(absl::Now() - start));
  for (size_t s = 0; s < outcome->stage_ms.size(); ++s) {
    v1::StageReport* stage = response.add_stages();
    stage->set_name(absl::StrCat("stage", s + 1));
    stage->set_duration_ms(outcome->stage_ms[s]);
  }
  group.history.push_back(response);
  if (group.history.size() > kHistoryLimit) group.history.pop_front();
  // Every endpoint holds the version, and the version is durable: the sync is
  // committed, so it is reported as such even if its history entry could not
  // be recorded (the next write of the group carries it).
  if (absl::Status recorded = Persist(group); !recorded.ok()) {
    LOG(ERROR) << "sync " << sync_id << " of group " << group.spec.name() << " committed version "
               << version << " but its history entry was not recorded: " << recorded;
    errors_->Publish(
        absl::Status(recorded.code(), absl::StrCat("version ", version,
                                                   " committed, but its history entry was not "
                                                   "recorded: ",
                                                   recorded.message())),
        "", group.spec.name(), version);
  }
  LOG(INFO) << "sync " << sync_id << " of group " << group.spec.name() << " committed version "
            << version << ": " << response.tensors() << " tensors, " << response.bytes()
            << " bytes in " << response.duration_ms() << " ms";
  return response;
}

}  // namespace paramsync::coordinator
