#include "agent/service/agent_control_service.h"

#include <glog/logging.h>

#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/request_deadline.h"

namespace paramsync::agent {
namespace {

// How often running RunTasks calls are checked for cancellation: how long a
// peer may keep waiting after the coordinator went away.
constexpr absl::Duration kCancelPollInterval = absl::Milliseconds(50);

}  // namespace

// A single thread watches all calls in flight (a thread per call would add its
// start to every sync), polling ServerContext::IsCancelled(), which is
// thread-safe.
class AgentControlService::CancelWatch {
 public:
  CancelWatch() : thread_([this] { Loop(); }) {}
  ~CancelWatch() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  // Calls `on_cancel` once, from the watch thread, if `context` is cancelled
  // before Unwatch(id) returns.
  uint64_t Watch(grpc::ServerContext* context, std::function<void()> on_cancel) {
    absl::MutexLock lock(&mu_);
    const uint64_t id = next_id_++;
    calls_[id] = Call{context, std::move(on_cancel)};
    return id;
  }
  void Unwatch(uint64_t id) {
    absl::MutexLock lock(&mu_);
    calls_.erase(id);
  }

 private:
  struct Call {
    grpc::ServerContext* context;
    std::function<void()> on_cancel;
  };

  void Loop() {
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    while (!mu_.AwaitWithTimeout(absl::Condition(&stopping), kCancelPollInterval)) {
      std::vector<std::function<void()>> cancelled;
      // Under the lock: a context is valid until its call is unwatched.
      for (auto it = calls_.begin(); it != calls_.end();) {
        if (it->second.context->IsCancelled()) {
          cancelled.push_back(std::move(it->second.on_cancel));
          it = calls_.erase(it);
        } else {
          ++it;
        }
      }
      if (cancelled.empty()) continue;
      mu_.Unlock();
      for (const auto& on_cancel : cancelled) on_cancel();
      mu_.Lock();
    }
  }

  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Call> calls_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

AgentControlService::AgentControlService(TensorRegistry* tensors, GroupTable* groups,
                                         TaskRunner* runner, Transport* transport,
                                         DigestRunner* digests, LoraMerger* lora)
    : tensors_(tensors),
      groups_(groups),
      runner_(runner),
      transport_(transport),
      digests_(digests),
      lora_(lora),
      cancel_watch_(std::make_unique<CancelWatch>()) {}

AgentControlService::~AgentControlService() = default;

grpc::Status AgentControlService::NewGroupIds(grpc::ServerContext*,
                                              const v1::NewGroupIdsRequest* request,
                                              v1::NewGroupIdsResponse* response) {
  // Bounded: a sync has at most a few groups per agent and rank.
  if (request->count() < 0 || request->count() > 65536) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("count is ", request->count(), "; accepted: 0 to 65536")));
  }
  for (int i = 0; i < request->count(); ++i) {
    absl::StatusOr<std::string> id = transport_->NewGroupId();
    if (!id.ok()) return ToGrpcStatus(id.status());
    response->add_ids(*std::move(id));
  }
  return grpc::Status::OK;
}

grpc::Status AgentControlService::SetupGroups(grpc::ServerContext*,
                                              const v1::SetupGroupsRequest* request,
                                              v1::SetupGroupsResponse*) {
  absl::Status status = groups_->SetupAll(request->groups());
  if (!status.ok()) {
    if (metrics_ != nullptr) metrics_->RecordError("SetupGroups", status);
    return ToGrpcStatus(status);
  }
  if (request->plan_id() != 0) tasks_.Store(request->plan_id(), request->tasks());
  return grpc::Status::OK;
}

grpc::Status AgentControlService::RunTasks(grpc::ServerContext* context,
                                           const v1::RunTasksRequest* request,
                                           v1::RunTasksResponse* response) {
  if (request->sync_id() == 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("sync_id must be > 0"));
  }
  absl::StatusOr<v1::RunTasksResponse> result;
  const bool named_plan =
      request->tasks().transfers().empty() && request->tasks().regroups().empty();
  std::shared_ptr<const TaskCache::Tasks> stored;
  if (named_plan && request->plan_id() != 0) {
    absl::StatusOr<std::shared_ptr<const TaskCache::Tasks>> tasks = tasks_.Find(request->plan_id());
    if (!tasks.ok()) return ToGrpcStatus(tasks.status());
    stored = *std::move(tasks);
  }
  // Nobody waits for this call any more once it is cancelled: stop the sync
  // here, and the peers' transfers with this agent with it.
  const uint64_t sync_id = request->sync_id();
  const int64_t version = request->version();
  const uint64_t watch = cancel_watch_->Watch(context, [this, sync_id, version] {
    const absl::Status aborted = absl::AbortedError(absl::StrCat(
        "sync ", sync_id, " (version ", version,
        ") was aborted on this agent: its RunTasks call was cancelled while it ran (the "
        "coordinator went away or gave up on the sync, or the deadline passed)"));
    LOG(WARNING) << aborted.message();
    transport_->Abort(sync_id, aborted);
    if (CoordinatorLink* link = link_.load(); link != nullptr) link->QueueError(aborted);
  });
  LOG(INFO) << "sync start sync_id=" << sync_id << " version=" << version
            << " plan_id=" << request->plan_id();
  const absl::Time start = absl::Now();
  if (stored != nullptr) {
    result = runner_->Run(*request, *stored, RequestDeadline(*context));
  } else {
    result = runner_->Run(*request, RequestDeadline(*context));
  }
  cancel_watch_->Unwatch(watch);
  const absl::Duration elapsed = absl::Now() - start;
  if (metrics_ != nullptr) metrics_->RecordRun(elapsed, result);
  if (!result.ok()) {
    LOG(ERROR) << "sync failed sync_id=" << sync_id << " version=" << version << ": "
               << result.status();
    return ToGrpcStatus(result.status());
  }
  LOG(INFO) << "sync done sync_id=" << sync_id << " version=" << version
            << " bytes_received=" << result->bytes_received()
            << " ms=" << absl::ToDoubleMilliseconds(elapsed);
  if (corrupter_for_test_ != nullptr) {
    if (absl::Status corrupted = corrupter_for_test_->Corrupt(); !corrupted.ok()) {
      return ToGrpcStatus(corrupted);
    }
  }
  *response = *std::move(result);
  if (!request->commit_endpoints().empty()) {
    CommitVersion(request->commit_endpoints(), request->version());
    response->set_committed(true);
  }
  return grpc::Status::OK;
}

void AgentControlService::CommitVersion(
    const google::protobuf::RepeatedPtrField<v1::EndpointRef>& endpoints, int64_t version) {
  for (const v1::EndpointRef& endpoint : endpoints) {
    tensors_->SetVersion(EndpointKey(endpoint.model(), endpoint.rank()), version);
  }
}

grpc::Status AgentControlService::Commit(grpc::ServerContext*, const v1::CommitRequest* request,
                                         v1::CommitResponse*) {
  CommitVersion(request->endpoints(), request->version());
  return grpc::Status::OK;
}

grpc::Status AgentControlService::DestroyGroups(grpc::ServerContext*,
                                                const v1::DestroyGroupsRequest* request,
                                                v1::DestroyGroupsResponse*) {
  groups_->Destroy(std::vector<std::string>(request->names().begin(), request->names().end()));
  return grpc::Status::OK;
}

grpc::Status AgentControlService::Abort(grpc::ServerContext*, const v1::AbortRequest* request,
                                        v1::AbortResponse*) {
  LOG(WARNING) << "sync abort sync_id=" << request->sync_id() << ": " << request->reason();
  transport_->Abort(
      request->sync_id(),
      absl::AbortedError(absl::StrCat("sync aborted by the coordinator: ", request->reason())));
  // Logged, not returned: the abort itself happened, and the coordinator
  // cannot do more about weights this agent failed to write back.
  (void)lora_->Restore(request->sync_id());
  return grpc::Status::OK;
}

grpc::Status AgentControlService::Digest(grpc::ServerContext*, const v1::DigestRequest* request,
                                         v1::DigestResponse* response) {
  absl::StatusOr<v1::DigestResponse> digests = digests_->Run(*request);
  if (!digests.ok()) {
    // A plan named before its items were sent here is the usual first call.
    const bool items_wanted =
        request->items().empty() && digests.status().code() == absl::StatusCode::kNotFound;
    if (!items_wanted) {
      LOG(ERROR) << "digests for sync " << request->sync_id() << " failed: " << digests.status();
    }
    return ToGrpcStatus(digests.status());
  }
  *response = *std::move(digests);
  return grpc::Status::OK;
}

grpc::Status AgentControlService::Lora(grpc::ServerContext*, const v1::LoraRequest* request,
                                       v1::LoraResponse* response) {
  if (request->sync_id() == 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("sync_id must be > 0"));
  }
  absl::StatusOr<v1::LoraResponse> result;
  switch (request->action()) {
    case v1::LORA_ACTION_MERGE:
      result = lora_->Merge(request->sync_id(), request->endpoints());
      break;
    case v1::LORA_ACTION_RESTORE:
      result = lora_->Restore(request->sync_id());
      break;
    default:
      result = absl::InvalidArgumentError(
          absl::StrCat("action is ", static_cast<int>(request->action()),
                       "; accepted: LORA_ACTION_MERGE, LORA_ACTION_RESTORE"));
  }
  if (!result.ok()) {
    if (metrics_ != nullptr) metrics_->RecordError("Lora", result.status());
    return ToGrpcStatus(result.status());
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace paramsync::agent
