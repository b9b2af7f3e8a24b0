#include "coordinator/sync/sync_manager.h"

#include <glog/logging.h>

#include <optional>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/status_message.h"
#include "coordinator/executor/sync_validator.h"
#include "coordinator/planner/plan_builder.h"
#include "coordinator/planner/plan_proto.h"
#include "coordinator/planner/plan_verifier.h"
#include "coordinator/registry/endpoint_validation.h"
#include "coordinator/reshard/direct_plan_builder.h"
#include "coordinator/reshard/direct_plan_proto.h"
#include "coordinator/reshard/direct_transfer_plan.h"
#include "coordinator/sync/lora_merge_plan.h"
#include "coordinator/sync/sync_participants.h"
#include "coordinator/sync/transfer_plan_builder.h"
#include "coordinator/sync/validation_plan.h"

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
  if (!v1::SyncStrategyKind_IsValid(spec.strategy())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group.strategy is ", spec.strategy(),
        "; accepted: SYNC_STRATEGY_KIND_CHATLEARN (1), SYNC_STRATEGY_KIND_DIRECT (2), or unset "
        "for chatlearn"));
  }
  if (!v1::RegroupCommType_IsValid(spec.regroup_comm_type())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group.regroup_comm_type is ", spec.regroup_comm_type(),
        "; accepted: REGROUP_COMM_TYPE_ALLTOALL (1), REGROUP_COMM_TYPE_ALLGATHER (2), or unset "
        "for all-to-all"));
  }
  if (!v1::LoraMode_IsValid(spec.lora_mode())) {
    return absl::InvalidArgumentError(
        absl::StrCat("group.lora_mode is ", spec.lora_mode(),
                     "; accepted: LORA_MODE_MERGE (1), LORA_MODE_ADAPTERS_ONLY (2), or unset for "
                     "merge"));
  }
  return absl::OkStatus();
}

// Group ids come from agents while a plan is prepared.
constexpr absl::Duration kGroupIdTimeout = absl::Seconds(10);

// Restoring copies every merged base weight back from its copy. It runs after
// the sync, failed or not, so it has a deadline of its own: the sync's may
// have passed.
constexpr absl::Duration kLoraRestoreTimeout = absl::Seconds(30);

// What a LoRA restore round restores, for its errors.
constexpr char kMergedBases[] = "the trainer's LoRA-merged base weights";

// Tells `progress` each agent's answer as its RunTasks succeeds.
SyncExecutor::AgentDoneHook ProgressHook(SyncProgressReporter& progress) {
  return
      [&progress](const v1::RunTasksResponse& done) { progress.AgentDone(done.bytes_received()); };
}

// `failure` of a sync of `version`, also naming the endpoints that hold that
// version all the same (their agent received all their bytes and committed).
absl::Status WithPartialCommit(absl::Status failure, int64_t version,
                               const std::vector<v1::EndpointRef>& committed) {
  if (committed.empty()) return failure;
  std::vector<std::string> names;
  for (const v1::EndpointRef& ref : committed) {
    names.push_back(absl::StrCat(ref.model(), " rank ", ref.rank()));
  }
  return WithMessage(failure, absl::StrCat(failure.message(),
                                           "; these endpoints received all their bytes and hold "
                                           "version ",
                                           version, " all the same: ", absl::StrJoin(names, ", ")));
}

}  // namespace

struct SyncManager::PreparedSync {
  SyncParticipants participants;
  planner::SyncPlan plan;  // Chatlearn plans only.
  TransferPlan transfer;
  std::optional<v1::SyncPlan> direct_plan;  // What GetPlan shows of a direct plan.

  // What validated syncs of the plan digest; built by the first one (most
  // syncs are not validated).
  absl::StatusOr<std::shared_ptr<const ValidationPlan>> Validation() const {
    absl::MutexLock lock(&validation_mu);
    if (validation == nullptr) {
      ASSIGN_OR_RETURN(ValidationPlan built, BuildValidationPlan(participants, transfer));
      validation = std::make_shared<const ValidationPlan>(std::move(built));
    }
    return validation;
  }
  mutable absl::Mutex validation_mu;
  mutable std::shared_ptr<const ValidationPlan> validation ABSL_GUARDED_BY(validation_mu);
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
  TransferOptions options;
  if (group.spec.staging_budget_bytes() != 0) {
    options.staging_budget_bytes = group.spec.staging_budget_bytes();
  }
  if (group.spec.strategy() == v1::SYNC_STRATEGY_KIND_DIRECT) {
    // Checked while planned: every destination element gets exactly one source.
    ASSIGN_OR_RETURN(const DirectMoves moves, PlanDirectMoves(prepared->participants));
    prepared->transfer = BuildDirectTransferPlan(prepared->participants, moves, options);
    prepared->direct_plan = DirectPlanToProto(moves, prepared->transfer);
  } else {
    ASSIGN_OR_RETURN(prepared->plan, planner::BuildSyncPlan(prepared->participants.topology));
    // Fail closed: no byte moves on a plan that would leave a rank without
    // weights, write one twice or ask NCCL for a group it cannot form.
    RETURN_IF_ERROR(planner::VerifySyncPlan(prepared->participants.topology, prepared->plan));
    ASSIGN_OR_RETURN(prepared->transfer,
                     BuildTransferPlan(prepared->plan, prepared->participants, options));
  }
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
                         ErrorChannel* errors, StateFile* state, CoordinatorMetrics* metrics)
    : agents_(agents),
      endpoints_(endpoints),
      executor_(executor),
      errors_(errors),
      state_(state),
      metrics_(metrics),
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
    {
      absl::MutexLock status_lock(&group->status_mu);
      group->status.set_version(group->version);
      if (!group->history.empty()) *group->status.mutable_last_report() = group->history.back();
    }
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
  if (prepared->direct_plan.has_value()) return *prepared->direct_plan;
  return planner::PlanToProto(prepared->plan, group->spec.hep());
}

absl::StatusOr<v1::SyncResponse> SyncManager::Sync(const v1::SyncRequest& request,
                                                   absl::Time deadline,
                                                   const SyncProgressCallback& progress_callback) {
  ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(request.group()));
  SyncProgressReporter progress(request.group(), progress_callback);
  progress.Begin(v1::SYNC_PHASE_PLANNING);
  absl::MutexLock lock(&group->sync_mu);
  {
    absl::MutexLock status_lock(&group->status_mu);
    group->status.set_syncing(true);
  }
  const int64_t attempted = group->issued_version + 1;  // As RunSync numbers it.
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::SyncResponse> result = RunSync(*group, request, deadline, progress);
  RecordOutcome(*group, request, result);
  if (result.ok()) progress.Done(*result);
  if (metrics_ != nullptr && !request.dry_run()) {
    metrics_->RecordSync(request.group(), absl::Now() - start, result);
  }
  if (!result.ok()) {
    LOG(ERROR) << "sync failed group=" << request.group() << " version=" << attempted << ": "
               << result.status();
    errors_->Publish(result.status(), "", request.group(), attempted);
  }
  return result;
}

void SyncManager::RecordOutcome(Group& group, const v1::SyncRequest& request,
                                const absl::StatusOr<v1::SyncResponse>& result) {
  absl::MutexLock lock(&group.status_mu);
  v1::SyncGroupStatus& status = group.status;
  status.set_syncing(false);
  status.set_last_sync_unix_ms(absl::ToUnixMillis(absl::Now()));
  status.set_last_sync_code(static_cast<int>(result.status().code()));
  status.set_last_sync_error(std::string(result.status().message()));
  // A sync may fail after its commit (a LoRA restore round): the version stands.
  status.set_version(group.version);
  if (result.ok() && !request.dry_run()) *status.mutable_last_report() = *result;
}

std::vector<v1::SyncGroupStatus> SyncManager::ListGroups() {
  std::vector<std::shared_ptr<Group>> groups;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, group] : groups_) groups.push_back(group);
  }
  std::vector<v1::SyncGroupStatus> out;
  for (const std::shared_ptr<Group>& group : groups) {
    absl::MutexLock lock(&group->status_mu);
    out.push_back(group->status);
    *out.back().mutable_spec() = group->spec;
  }
  return out;
}

absl::Status SyncManager::Interrupted(const TransferPlan& transfer, int64_t version,
                                      const std::vector<v1::EndpointRef>& committed,
                                      absl::Status failure) {
  std::set<std::pair<std::string, int>> held;
  for (const v1::EndpointRef& ref : committed) held.emplace(ref.model(), ref.rank());
  for (const AgentWork& work : transfer.agents) {
    for (const v1::EndpointRef& ref : work.receivers) {
      if (held.count({ref.model(), ref.rank()}) == 0) {
        endpoints_->MarkInterrupted(ref.model(), ref.rank(), version);
      }
    }
  }
  return failure;
}

absl::StatusOr<v1::SyncResponse> SyncManager::RunSync(Group& group, const v1::SyncRequest& request,
                                                      absl::Time deadline,
                                                      SyncProgressReporter& progress) {
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(std::shared_ptr<const PreparedSync> prepared, Prepared(group));
  const TransferPlan& transfer = prepared->transfer;
  progress.SetTotals(transfer.dst_bytes, static_cast<int>(transfer.agents.size()));
  if (group.groups_ready_for != prepared || request.dry_run()) {
    group.groups_ready_for.reset();
    progress.Begin(v1::SYNC_PHASE_SETTING_UP);
    RETURN_IF_ERROR(executor_->Prepare(transfer, deadline));
    group.groups_ready_for = prepared;
  }
  if (request.warmup()) {
    progress.Begin(v1::SYNC_PHASE_WARMING_UP);
    absl::Status warmed =
        executor_
            ->Transfer(transfer, next_sync_id_++, group.version, TransferMode::kWarmup, deadline,
                       nullptr, ProgressHook(progress))
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
    LOG(INFO) << "dry run done group=" << group.spec.name()
              << " warmup=" << (request.warmup() ? "true" : "false")
              << " agents=" << transfer.agents.size();
    return response;
  }
  // Validated: placed before any byte moves, so that a sync that cannot be
  // validated fails without touching an endpoint.
  const bool validate = request.validate() || group.spec.validate();
  std::shared_ptr<const ValidationPlan> validation;
  if (validate) {
    ASSIGN_OR_RETURN(validation, prepared->Validation());
  }
  const int64_t version = group.issued_version + 1;
  const uint64_t sync_id = next_sync_id_++;
  LOG(INFO) << "sync start sync_id=" << sync_id << " version=" << version
            << " group=" << group.spec.name() << " agents=" << transfer.agents.size();
  // Durable before any agent may commit it: a restarted coordinator never
  // issues this version again (a failed sync leaves a gap in the numbers).
  group.issued_version = version;
  if (absl::Status recorded = Persist(group); !recorded.ok()) {
    group.issued_version = version - 1;
    return absl::Status(recorded.code(),
                        absl::StrCat("version ", version,
                                     " not committed (no agent was asked to sync it; each endpoint "
                                     "keeps the version it held): recording it failed: ",
                                     recorded.message()));
  }
  progress.SetVersion(version);
  progress.Begin(v1::SYNC_PHASE_TRANSFERRING);
  // LoRA merge groups: the adapters go into the base weights the sync reads
  // (its digests included) before any task runs, and come out once the sync
  // ended, however it ended.
  const std::vector<v1::LoraRequest> merges =
      BuildLoraMergeRequests(prepared->participants, transfer, validation.get());
  absl::Status synced;
  if (!merges.empty()) {
    const absl::Time merge_start = absl::Now();
    absl::StatusOr<LoraOutcome> merged =
        executor_->Lora(transfer, merges, v1::LORA_ACTION_MERGE, sync_id, deadline);
    response.set_lora_merge_ms(absl::ToDoubleMilliseconds(absl::Now() - merge_start));
    if (merged.ok()) {
      response.set_lora_base_weights(merged->base_weights);
      LOG(INFO) << "LoRA merged sync_id=" << sync_id << " base_weights=" << merged->base_weights
                << " copies_bytes=" << merged->saved_bytes << " ms=" << response.lora_merge_ms();
    } else {
      synced = WithMessage(merged.status(),
                           absl::StrCat("version ", version,
                                        " not committed: merging the trainer's LoRA adapters "
                                        "failed, no endpoint was written (each keeps the "
                                        "version it held): ",
                                        merged.status().message()));
    }
  }
  if (synced.ok()) {
    synced = TransferVersion(group, *prepared, validation.get(), sync_id, version, deadline,
                             progress, response);
  }
  absl::Status restored;
  if (!merges.empty()) {
    const absl::Time restore_start = absl::Now();
    restored = executor_
                   ->Lora(transfer, merges, v1::LORA_ACTION_RESTORE, sync_id,
                          absl::Now() + kLoraRestoreTimeout)
                   .status();
    response.set_lora_restore_ms(absl::ToDoubleMilliseconds(absl::Now() - restore_start));
  }
  if (!synced.ok()) {
    if (restored.ok()) return synced;
    return WithMessage(synced, absl::StrCat(synced.message(), "; restoring ", kMergedBases,
                                            " also failed: ", restored.message()));
  }
  RecordCommitted(group, sync_id, start, response);
  if (!restored.ok()) {
    LOG(ERROR) << "LoRA restore failed after a commit sync_id=" << sync_id << " version=" << version
               << " group=" << group.spec.name() << ": " << restored;
    return WithFailedAgent(
        absl::InternalError(absl::StrCat(
            "version ", version, " committed (every inference endpoint holds it), but restoring ",
            kMergedBases, " failed: ", restored.message(),
            "; those endpoints' base weights hold the merged values W + scale * B @ A until "
            "their agent restores them (the next merge of the endpoints does so first)")),
        FailedAgent(restored));
  }
  return response;
}

absl::Status SyncManager::TransferVersion(Group& group, const PreparedSync& prepared,
                                          const ValidationPlan* validation, uint64_t sync_id,
                                          int64_t version, absl::Time deadline,
                                          SyncProgressReporter& progress,
                                          v1::SyncResponse& response) {
  const TransferPlan& transfer = prepared.transfer;
  // In band, agents commit as their RunTasks succeed: one RPC round per sync,
  // which is most of a small sync's control-plane time. A validated sync
  // commits in a round of its own, once its bytes are checked.
  const bool commit_in_band = validation == nullptr;
  const absl::Time transfer_start = absl::Now();
  std::vector<v1::EndpointRef> committed;
  absl::StatusOr<SyncOutcome> outcome = executor_->Transfer(
      transfer, sync_id, version,
      commit_in_band ? TransferMode::kTransferAndCommit : TransferMode::kTransfer, deadline,
      &committed, ProgressHook(progress));
  const absl::Time transfer_end = absl::Now();
  if (outcome.ok() && outcome->bytes_received != transfer.dst_bytes) {
    outcome = absl::InternalError(absl::StrCat("agents wrote ", outcome->bytes_received,
                                               " bytes, the plan needs ", transfer.dst_bytes));
  }
  if (outcome.ok() && validation != nullptr) {
    progress.Begin(v1::SYNC_PHASE_VALIDATING);
    const absl::Time validate_start = absl::Now();
    if (absl::Status valid =
            ValidateSync(*executor_, transfer, *validation, sync_id, version, deadline);
        !valid.ok()) {
      return Interrupted(transfer, version, committed, valid);
    }
    response.set_validated(true);
    response.set_validate_ms(absl::ToDoubleMilliseconds(absl::Now() - validate_start));
  }
  absl::Status commit;
  if (outcome.ok() && !commit_in_band) {
    progress.Begin(v1::SYNC_PHASE_COMMITTING);
    const absl::Time commit_start = absl::Now();
    commit = executor_->Commit(transfer, sync_id, version, &committed);
    response.set_commit_round_ms(absl::ToDoubleMilliseconds(absl::Now() - commit_start));
  }
  // Each endpoint's status shows what its agent confirmed, even when others failed.
  for (const v1::EndpointRef& ref : committed) {
    endpoints_->SetVersion(ref.model(), ref.rank(), version);
  }
  if (!outcome.ok()) {
    group.groups_ready_for.reset();
    return Interrupted(transfer, version, committed,
                       WithPartialCommit(outcome.status(), version, committed));
  }
  // It names the endpoints that committed.
  if (!commit.ok()) return Interrupted(transfer, version, committed, commit);
  group.version = version;
  response.set_transfer_round_ms(absl::ToDoubleMilliseconds(transfer_end - transfer_start));
  response.set_version(version);
  response.set_tensors(transfer.dst_tensors);
  response.set_bytes(transfer.dst_bytes);
  response.set_wire_bytes(transfer.wire_bytes);
  response.set_regroup_ms(outcome->regroup_ms);
  response.set_peak_staging_bytes(outcome->peak_staging_bytes);
  response.set_waves(transfer.waves);
  for (size_t s = 0; s < outcome->stage_ms.size(); ++s) {
    v1::StageReport* stage = response.add_stages();
    stage->set_name(absl::StrCat("stage", s + 1));
    stage->set_duration_ms(outcome->stage_ms[s]);
  }
  if (group.spec.free_groups()) {
    executor_->Free(transfer);
    group.groups_ready_for.reset();
  }
  return absl::OkStatus();
}

void SyncManager::RecordCommitted(Group& group, uint64_t sync_id, absl::Time start,
                                  v1::SyncResponse& response) {
  const int64_t version = response.version();
  response.set_duration_ms(absl::ToDoubleMilliseconds(absl::Now() - start));
  group.history.push_back(response);
  if (group.history.size() > kHistoryLimit) group.history.pop_front();
  // Every endpoint holds the version, and the version is durable: the sync is
  // committed, so it is reported as such even if its history entry could not
  // be recorded (the next write of the group carries it).
  if (absl::Status recorded = Persist(group); !recorded.ok()) {
    LOG(ERROR) << "sync history not recorded sync_id=" << sync_id << " version=" << version
               << " group=" << group.spec.name() << ": " << recorded;
    errors_->Publish(
        absl::Status(recorded.code(), absl::StrCat("version ", version,
                                                   " committed, but its history entry was not "
                                                   "recorded: ",
                                                   recorded.message())),
        "", group.spec.name(), version);
  }
  LOG(INFO) << "sync committed sync_id=" << sync_id << " version=" << version
            << " group=" << group.spec.name() << " tensors=" << response.tensors()
            << " bytes=" << response.bytes() << " ms=" << response.duration_ms();
}

}  // namespace paramsync::coordinator
