#include "agent/tasks/task_runner.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/metrics/metered_transport.h"
#include "agent/tasks/regroup_runner.h"
#include "agent/tasks/staging_store.h"
#include "common/dtype.h"
#include "common/status_macros.h"
#include "common/status_message.h"
#include "common/tensor_slice.h"

namespace paramsync::agent {
namespace {

constexpr int kMaxStage = 64;
// Jobs of one step run at once, a thread each (they may wait for one another
// across agents). Real plans give an agent tens; a request asking for more
// than this is refused rather than allowed to exhaust the agent's threads.
constexpr size_t kMaxJobsPerStep = 1024;
constexpr int kMaxSlices = 4096;  // dst TP / src TP, and TP sizes are at most 4096.

std::string TaskName(uint64_t sync_id, const v1::TransferTask& task) {
  return absl::StrCat("sync ", sync_id, " task ", task.task_id(), " (stage ", task.stage(),
                      ", group ", task.group(), ")");
}

// `status` prefixed with `where`, keeping its payloads (e.g. the peer a push
// could not reach, which the coordinator blames).
absl::Status Annotate(const absl::Status& status, const std::string& where) {
  if (status.ok()) return status;
  return WithMessage(status, absl::StrCat(where, ": ", status.message()));
}

// Merges each run of tensors the plan marked joins_next into one buffer
// (`moves[i]` is the move buffers[i] belongs to). Root and receivers merge the
// same runs, so they issue the same operations; memory that is not adjacent
// after all (re-registered since the plan) fails instead of desynchronizing
// the two sides.
template <typename Buffer>
absl::StatusOr<std::vector<Buffer>> JoinRuns(const std::vector<Buffer>& buffers,
                                             const std::vector<const v1::TensorMove*>& moves) {
  std::vector<Buffer> runs;
  bool joining = false;
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (joining) {
      Buffer& run = runs.back();
      if (static_cast<const char*>(run.data) + run.size != buffers[i].data) {
        return absl::FailedPreconditionError(absl::StrCat(
            "tensor '", moves[i]->dst_name(),
            "' no longer follows the tensor before it in memory; register the endpoint again"));
      }
      run.size += buffers[i].size;
    } else {
      runs.push_back(buffers[i]);
    }
    joining = moves[i]->joins_next();
  }
  return runs;
}

// The buffers a task of a cached plan sends from or receives into, resolved
// once (thousands of tensor lookups per sync otherwise) and reused while the
// registry's generation is unchanged. Only tasks that touch registered tensors
// directly are kept: staging buffers are new on every run.
struct ResolvedTask {
  std::vector<ConstBuffer> send_runs;
  std::vector<MutableBuffer> receive_runs;
  int64_t bytes = 0;    // Receive side: bytes landing in tensors.
  int64_t tensors = 0;  // Receive side: tensors written.
};

}  // namespace

class ResolvedTaskCache {
 public:
  // (plan, task, rank of the side: the root's or the receiver's)
  using Key = std::tuple<uint64_t, uint64_t, int>;

  std::optional<ResolvedTask> Find(const Key& key, uint64_t generation) {
    absl::MutexLock lock(&mu_);
    if (generation != generation_) {
      entries_.clear();
      generation_ = generation;
    }
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

  void Put(const Key& key, uint64_t generation, ResolvedTask task) {
    absl::MutexLock lock(&mu_);
    if (generation != generation_) return;
    // Bounded by a few plans' tasks; a miss only costs the lookups again.
    if (entries_.size() >= 65536) entries_.clear();
    entries_[key] = std::move(task);
  }

 private:
  absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<Key, ResolvedTask> entries_ ABSL_GUARDED_BY(mu_);
};

namespace {

struct Counters {
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> tensors{0};
};

// Everything one Run() call shares between its stages and threads.
struct RunContext {
  uint64_t sync_id;
  uint64_t plan_id;  // 0: tasks came with the request, nothing to reuse.
  uint64_t generation;
  absl::Time deadline;
  MemoryOps& memory;
  StagingStore staging;
  Counters counters;
};

}  // namespace

TaskRunner::TaskRunner(TensorRegistry* tensors, GroupTable* groups, Transport* transport,
                       MemoryOps* memory)
    : tensors_(tensors),
      groups_(groups),
      transport_(transport),
      memory_(memory),
      resolved_(std::make_unique<ResolvedTaskCache>()) {}

TaskRunner::~TaskRunner() = default;

namespace {

// Slice `index` of `move`'s shard of `move.wire_shape()`.
SliceSpec SliceOf(const v1::TensorMove& move, int index) {
  return SliceSpec{move.wire_shape(), DTypeSize(move.dtype()), move.slice_dim(), move.num_slices(),
                   index};
}

// `move`'s slice for `receiver`.
SliceSpec SliceFor(const v1::TensorMove& move, const v1::Receiver& receiver) {
  return SliceOf(move, receiver.slice_index());
}

// INVALID_ARGUMENT unless `move` splits into at most kMaxSlices slices, which
// bounds what a request can make a receiver stage.
absl::Status CheckSliceCount(const v1::TensorMove& move) {
  if (move.num_slices() <= kMaxSlices) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("tensor '", move.dst_name(), "': num_slices is ",
                                                 move.num_slices(), "; accepted: 1 to ", kMaxSlices,
                                                 " (dst TP / src TP)"));
}

// The slices a sliced_on_wire move travels as, as byte ranges of its shard in
// slice order: equal, each contiguous (INVALID_ARGUMENT otherwise).
struct ByteRange {
  size_t offset = 0;
  size_t size = 0;
};
absl::StatusOr<std::vector<ByteRange>> WireSlices(const v1::TensorMove& move) {
  RETURN_IF_ERROR(CheckSliceCount(move));
  const std::string where = absl::StrCat("tensor '", move.dst_name(), "'");
  if (move.num_slices() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(where,
                                                   ": sliced_on_wire needs num_slices >= 2, "
                                                   "not ",
                                                   move.num_slices()));
  }
  std::vector<ByteRange> slices;
  for (int index = 0; index < move.num_slices(); ++index) {
    const SliceSpec slice = SliceOf(move, index);
    size_t bytes = 0;
    RETURN_IF_ERROR(Annotate(ValidateSlice(slice, &bytes), where));
    const absl::StatusOr<SliceGeometry> g = GeometryOf(slice, bytes);
    if (!g.ok()) return Annotate(g.status(), where);
    if (g->rows != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where,
                       ": sliced_on_wire needs slices contiguous in the shard (slice_dim 0 "
                       "or after dimensions of size 1); slice_dim is ",
                       move.slice_dim()));
    }
    slices.push_back({g->first_byte, bytes});
  }
  return slices;
}

// What travels for `move` to `receiver`: the sender's shard, or only the
// receiver's slice of it (TensorMove.sender_slices).
absl::StatusOr<uint64_t> WireBytes(const v1::TensorMove& move, const v1::Receiver& receiver) {
  if (!move.sender_slices()) return TensorBytes(move.dtype(), move.wire_shape());
  RETURN_IF_ERROR(CheckSliceCount(move));
  size_t bytes = 0;
  RETURN_IF_ERROR(ValidateSlice(SliceFor(move, receiver), &bytes));
  return bytes;
}

// The bytes to send of a staged shard: the shard, or the one receiver's slice
// of it, in place where contiguous (dim-0 slices) and else cut into `scratch`.
absl::StatusOr<ConstBuffer> StagedWire(const v1::TensorMove& move, const v1::TransferTask& task,
                                       const StagedTensor& staged, MemoryOps& memory,
                                       std::vector<std::shared_ptr<StagingBuffer>>& scratch) {
  const StagingBuffer& shard = *staged.bytes;
  ASSIGN_OR_RETURN(const uint64_t wire_bytes, TensorBytes(move.dtype(), move.wire_shape()));
  const bool partial = staged.missing_slice >= 0;
  if (partial && move.num_slices() < 2) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", move.src_name(),
                                                   "' was staged in slices; num_slices is ",
                                                   move.num_slices(), ", accepted: 2 or more"));
  }
  // Staged without the receiver's own slice: equal slices, in order, one fewer.
  const uint64_t staged_bytes =
      partial ? wire_bytes / move.num_slices() * (move.num_slices() - 1) : wire_bytes;
  if (shard.size() != staged_bytes) {
    return absl::FailedPreconditionError(absl::StrCat("staged tensor '", move.src_name(), "' has ",
                                                      shard.size(), " bytes, the task sends from ",
                                                      staged_bytes));
  }
  if (!move.sender_slices()) {
    if (!partial) return ConstBuffer{shard.data(), shard.size()};
    return absl::FailedPreconditionError(absl::StrCat(
        "staged tensor '", move.src_name(), "' lacks slice ", staged.missing_slice,
        " (it landed in this rank's own tensor); only sender-sliced forwards can send from it"));
  }
  if (task.receivers_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", move.src_name(),
                                                   "': sender_slices needs a task of one "
                                                   "receiver, this one has ",
                                                   task.receivers_size()));
  }
  const SliceSpec slice = SliceFor(move, task.receivers(0));
  ASSIGN_OR_RETURN(const uint64_t bytes, WireBytes(move, task.receivers(0)));
  if (partial) {
    const int index = slice.index;
    if (index == staged.missing_slice) {
      return absl::FailedPreconditionError(
          absl::StrCat("staged tensor '", move.src_name(), "' lacks slice ", index,
                       ", which the task sends (it landed in this rank's own tensor)"));
    }
    const uint64_t position = index - (index > staged.missing_slice ? 1 : 0);
    return ConstBuffer{static_cast<const char*>(shard.data()) + position * bytes, bytes};
  }
  ASSIGN_OR_RETURN(const SliceGeometry g, GeometryOf(slice, bytes));
  if (g.rows == 1 || g.run_bytes == g.row_bytes) {
    return ConstBuffer{static_cast<const char*>(shard.data()) + g.first_byte, bytes};
  }
  ASSIGN_OR_RETURN(std::shared_ptr<StagingBuffer> cut, memory.Allocate(bytes));
  RETURN_IF_ERROR(memory.CopySlice(slice, shard.data(), cut->data(), bytes));
  scratch.push_back(cut);
  return ConstBuffer{cut->data(), bytes};
}

// The root's side of one task.
absl::Status SendTask(const v1::TransferTask& task, const CollectiveGroup& group,
                      const TensorRegistry& tensors, Transport& transport, RunContext& run,
                      ResolvedTaskCache& cache) {
  std::vector<int> receivers;
  for (const v1::Receiver& receiver : task.receivers()) receivers.push_back(receiver.sync_rank());
  bool from_staging = false;
  for (const v1::TensorMove& move : task.tensors()) from_staging |= move.from_staging();
  const bool reusable = run.plan_id != 0 && !from_staging;
  const auto key = std::make_tuple(run.plan_id, task.task_id(), task.root_sync_rank());
  if (reusable) {
    if (std::optional<ResolvedTask> resolved = cache.Find(key, run.generation)) {
      return transport.BroadcastSend(group.view, run.sync_id, task.task_id(), receivers,
                                     resolved->send_runs, run.deadline);
    }
  }
  const v1::GroupMember* root = group.Member(task.root_sync_rank());
  const EndpointKey endpoint = KeyOf(*root);
  std::vector<ConstBuffer> buffers;
  std::vector<const v1::TensorMove*> buffer_moves;     // The move of each buffer.
  std::vector<std::shared_ptr<StagingBuffer>> staged;  // Held while sending.
  for (const v1::TensorMove& move : task.tensors()) {
    ConstBuffer wire;
    if (move.from_staging()) {
      ASSIGN_OR_RETURN(StagedTensor shard, run.staging.Get(endpoint, move.src_name()));
      ASSIGN_OR_RETURN(wire, StagedWire(move, task, shard, run.memory, staged));
      staged.push_back(std::move(shard.bytes));
    } else {
      if (move.sender_slices()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tensor '", move.src_name(), "': only staged shards are sent sliced by the sender"));
      }
      ASSIGN_OR_RETURN(const uint64_t wire_bytes, TensorBytes(move.dtype(), move.wire_shape()));
      ASSIGN_OR_RETURN(const TensorView view, tensors.Find(endpoint, move.src_name()));
      if (view.nbytes != wire_bytes) {
        return absl::FailedPreconditionError(absl::StrCat(
            "tensor '", move.src_name(), "' of ", endpoint.first, " rank ", endpoint.second,
            " has ", view.nbytes, " bytes, the plan sends ", wire_bytes));
      }
      wire = ConstBuffer{view.data, view.nbytes};
    }
    if (!move.sliced_on_wire()) {
      buffers.push_back(wire);
      buffer_moves.push_back(&move);
      continue;
    }
    if (move.sender_slices()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", move.src_name(), "': sliced_on_wire and sender_slices exclude each other"));
    }
    ASSIGN_OR_RETURN(const std::vector<ByteRange> slices, WireSlices(move));
    if (wire.size != slices.back().offset + slices.back().size) {
      return absl::FailedPreconditionError(absl::StrCat("tensor '", move.src_name(), "' has ",
                                                        wire.size, " bytes to send, not a shard"));
    }
    for (const ByteRange& slice : slices) {
      buffers.push_back(
          ConstBuffer{static_cast<const char*>(wire.data) + slice.offset, slice.size});
      buffer_moves.push_back(&move);
    }
  }
  ASSIGN_OR_RETURN(std::vector<ConstBuffer> runs, JoinRuns(buffers, buffer_moves));
  if (reusable) cache.Put(key, run.generation, ResolvedTask{runs, {}, 0, 0});
  return transport.BroadcastSend(group.view, run.sync_id, task.task_id(), receivers, runs,
                                 run.deadline);
}

// Where one received tensor lands, and what to do with it once it arrived.
struct Landing {
  const v1::TensorMove* move;
  TensorView destination;
  bool staged = false;  // Received into `staging`, not straight into `destination`.
  std::shared_ptr<StagingBuffer> staging;
  // sliced_on_wire: this slice went straight into `destination`, the others
  // into `staging`.
  int own_slice = -1;
};

// A sliced_on_wire move: `receiver`'s slice goes straight into `destination`,
// the others, in order, into one staging buffer (kept when the receiver
// forwards them in the next stage, else dropped). Appends the receive buffers.
absl::StatusOr<Landing> LandSlices(const v1::TensorMove& move, const v1::Receiver& receiver,
                                   const TensorView& destination, MemoryOps& memory,
                                   std::vector<MutableBuffer>& buffers,
                                   std::vector<const v1::TensorMove*>& buffer_moves) {
  ASSIGN_OR_RETURN(const std::vector<ByteRange> slices, WireSlices(move));
  const int count = static_cast<int>(slices.size());
  const int own = receiver.slice_index();
  if (own < 0 || own >= count) {
    return absl::InvalidArgumentError(absl::StrCat("receiver ", receiver.sync_rank(),
                                                   ": slice_index is ", own, "; accepted: 0 to ",
                                                   count - 1));
  }
  const size_t slice_bytes = slices[0].size;
  if (destination.nbytes != slice_bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("tensor '", move.dst_name(), "' has ", destination.nbytes,
                     " bytes, its slice of the sender's has ", slice_bytes));
  }
  Landing landing{&move, destination, false, {}, own};
  ASSIGN_OR_RETURN(landing.staging, memory.Allocate(slice_bytes * (count - 1)));
  char* rest = static_cast<char*>(landing.staging->data());
  for (int index = 0; index < count; ++index) {
    buffers.push_back(
        index == own
            ? MutableBuffer{destination.data, slice_bytes}
            : MutableBuffer{rest + (index - (index > own ? 1 : 0)) * slice_bytes, slice_bytes});
    buffer_moves.push_back(&move);
  }
  return landing;
}

// A staged receive keeps its slice of the sender's shard (num_slices > 1) or
// all of it; either must be exactly the destination tensor. Checked before the
// staging buffer is sized by the request, so a malformed shape cannot make the
// agent allocate more than kMaxSlices times a registered tensor.
absl::Status CheckStaging(const v1::TensorMove& move, const v1::Receiver& receiver,
                          const TensorView& destination, uint64_t wire_bytes) {
  const std::string where = absl::StrCat("tensor '", move.dst_name(), "'");
  RETURN_IF_ERROR(CheckSliceCount(move));
  if (move.num_slices() > 1) {
    return Annotate(GeometryOf(SliceFor(move, receiver), destination.nbytes).status(), where);
  }
  if (destination.nbytes != wire_bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, " has ", destination.nbytes, " bytes, the sender's has ", wire_bytes));
  }
  return absl::OkStatus();
}

// One receiver's side of one task.
absl::Status ReceiveTask(const v1::TransferTask& task, const v1::Receiver& receiver,
                         const CollectiveGroup& group, const TensorRegistry& tensors,
                         Transport& transport, RunContext& run, ResolvedTaskCache& cache) {
  std::vector<int> receivers;
  for (const v1::Receiver& r : task.receivers()) receivers.push_back(r.sync_rank());
  const TransferKey transfer{run.sync_id, task.task_id(), receiver.sync_rank()};
  bool direct = !receiver.stage_whole();
  for (const v1::TensorMove& move : task.tensors()) {
    direct &= move.num_slices() == 1 || move.sender_slices();
  }
  const bool reusable = run.plan_id != 0 && direct;
  const auto key = std::make_tuple(run.plan_id, task.task_id(), receiver.sync_rank());
  if (reusable) {
    if (std::optional<ResolvedTask> resolved = cache.Find(key, run.generation)) {
      RETURN_IF_ERROR(transport.BroadcastRecv(group.view, transfer, task.root_sync_rank(),
                                              receivers, resolved->receive_runs, run.deadline));
      run.counters.bytes += resolved->bytes;
      run.counters.tensors += resolved->tensors;
      return absl::OkStatus();
    }
  }
  const EndpointKey endpoint = KeyOf(*group.Member(receiver.sync_rank()));
  std::vector<Landing> landings;
  landings.reserve(task.tensors_size());
  std::vector<MutableBuffer> buffers;
  std::vector<const v1::TensorMove*> buffer_moves;  // The move of each buffer.
  for (const v1::TensorMove& move : task.tensors()) {
    ASSIGN_OR_RETURN(const TensorView destination, tensors.Find(endpoint, move.dst_name()));
    if (move.sliced_on_wire()) {
      ASSIGN_OR_RETURN(Landing landing,
                       LandSlices(move, receiver, destination, run.memory, buffers, buffer_moves));
      landings.push_back(std::move(landing));
      continue;
    }
    ASSIGN_OR_RETURN(const uint64_t wire_bytes, WireBytes(move, receiver));
    // The receiver cuts its slice itself unless the sender did.
    const bool cuts = move.num_slices() > 1 && !move.sender_slices();
    Landing landing{&move, destination, cuts || receiver.stage_whole(), {}};
    if (landing.staged) {
      RETURN_IF_ERROR(CheckStaging(move, receiver, destination, wire_bytes));
      ASSIGN_OR_RETURN(landing.staging, run.memory.Allocate(wire_bytes));
    } else if (destination.nbytes != wire_bytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tensor '", move.dst_name(), "' of ", endpoint.first, " rank ", endpoint.second, " has ",
          destination.nbytes, " bytes, the sender's has ", wire_bytes));
    }
    buffers.push_back(landing.staged
                          ? MutableBuffer{landing.staging->data(), landing.staging->size()}
                          : MutableBuffer{landing.destination.data, landing.destination.nbytes});
    buffer_moves.push_back(&move);
    landings.push_back(std::move(landing));
  }
  ASSIGN_OR_RETURN(std::vector<MutableBuffer> runs, JoinRuns(buffers, buffer_moves));
  if (reusable) {
    ResolvedTask resolved{{}, runs, 0, 0};
    for (const Landing& landing : landings) {
      resolved.bytes += static_cast<int64_t>(landing.destination.nbytes);
      resolved.tensors += 1;
    }
    cache.Put(key, run.generation, std::move(resolved));
  }
  RETURN_IF_ERROR(transport.BroadcastRecv(group.view, transfer, task.root_sync_rank(), receivers,
                                          runs, run.deadline));
  for (Landing& landing : landings) {
    const v1::TensorMove& move = *landing.move;
    if (landing.own_slice >= 0 && receiver.stage_whole()) {
      run.staging.Put(endpoint, move.dst_name(), std::move(landing.staging), landing.own_slice);
    }
    if (landing.staged) {
      if (move.num_slices() > 1 && !move.sender_slices()) {
        const SliceSpec slice = SliceFor(move, receiver);
        RETURN_IF_ERROR(
            Annotate(run.memory.CopySlice(slice, landing.staging->data(), landing.destination.data,
                                          landing.destination.nbytes),
                     absl::StrCat("tensor '", move.dst_name(), "'")));
      } else if (landing.destination.nbytes == landing.staging->size()) {
        RETURN_IF_ERROR(run.memory.Copy(landing.destination.data, landing.staging->data(),
                                        landing.staging->size()));
      } else {
        return absl::FailedPreconditionError(
            absl::StrCat("tensor '", move.dst_name(), "' has ", landing.destination.nbytes,
                         " bytes, the sender's has ", landing.staging->size()));
      }
      if (receiver.stage_whole()) {
        run.staging.Put(endpoint, move.dst_name(), std::move(landing.staging));
      }
    }
    run.counters.bytes += static_cast<int64_t>(landing.destination.nbytes);
    run.counters.tensors += 1;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::RunTasksResponse> TaskRunner::Run(const v1::RunTasksRequest& request,
                                                     absl::Time deadline) {
  return Run(request, request.tasks(), deadline);
}

absl::StatusOr<v1::RunTasksResponse> TaskRunner::Run(const v1::RunTasksRequest& request,
                                                     const v1::AgentTasks& work,
                                                     absl::Time deadline) {
  const bool named_plan = request.tasks().transfers().empty() && request.tasks().regroups().empty();
  RunContext run{request.sync_id(),
                 named_plan ? request.plan_id() : 0,
                 tensors_->generation(),
                 deadline,
                 *memory_,
                 {},
                 {}};
  // Jobs by (wave, stage); each job is one send or one receive of a local
  // endpoint, or (stage 0) this agent's part of one regroup.
  std::map<std::pair<int, int>, std::vector<std::function<absl::Status()>>> stages;
  std::set<EndpointKey> local;  // This agent's endpoints that send or receive.
  const RegroupContext regroup{request.sync_id(),    deadline, self_address_, tensors_,
                               transport_,           memory_,  &run.staging,  &run.counters.bytes,
                               &run.counters.tensors};
  for (const v1::RegroupTask& task : work.regroups()) {
    const std::string where = absl::StrCat("sync ", request.sync_id(), " regroup ", task.task_id(),
                                           " (group ", task.group(), ")");
    // Stage 0: a HEP regroup, before the stages; 1: a direct sync's moves.
    if (task.stage() < 0 || task.stage() > kMaxStage) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": tasks.regroups[].stage is ",
                                                     task.stage(), "; accepted: 0 to ", kMaxStage));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const CollectiveGroup> group, groups_->Find(task.group()));
    bool involved = false;
    for (const v1::GroupMember& member : group->spec.members()) {
      if (member.agent_address() != self_address_) continue;
      involved = true;
      local.insert(KeyOf(member));
    }
    if (!involved) continue;
    stages[{task.wave(), task.stage()}].push_back([this, &task, group, &regroup, where] {
      // A direct sync's moves count as their stage's bytes; a regroup's
      // (stage 0) only as its time.
      MeteredTransport metered(transport_, metrics_, task.stage());
      RegroupContext context = regroup;
      if (task.stage() > 0) context.transport = &metered;
      return Annotate(RunRegroup(task, *group, context), where);
    });
  }
  for (const v1::TransferTask& task : work.transfers()) {
    const std::string where = TaskName(request.sync_id(), task);
    // Plans have two stages; the bound keeps the response's per-stage list small.
    if (task.stage() < 1 || task.stage() > kMaxStage) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": tasks.transfers[].stage is ",
                                                     task.stage(), "; accepted: 1 to ", kMaxStage));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<const CollectiveGroup> group, groups_->Find(task.group()));
    const v1::GroupMember* root = group->Member(task.root_sync_rank());
    if (root == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": root rank ", task.root_sync_rank(), " is not in the group"));
    }
    auto& jobs = stages[{task.wave(), task.stage()}];
    if (root->agent_address() == self_address_) {
      local.insert(KeyOf(*root));
      jobs.push_back([this, &task, group, &run, where] {
        MeteredTransport transport(transport_, metrics_, task.stage());
        return Annotate(SendTask(task, *group, *tensors_, transport, run, *resolved_), where);
      });
    }
    for (const v1::Receiver& receiver : task.receivers()) {
      const v1::GroupMember* member = group->Member(receiver.sync_rank());
      if (member == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": receiver rank ", receiver.sync_rank(), " is not in the group"));
      }
      if (member->agent_address() != self_address_) continue;
      local.insert(KeyOf(*member));
      jobs.push_back([this, &task, &receiver, group, &run, where] {
        MeteredTransport transport(transport_, metrics_, task.stage());
        return Annotate(ReceiveTask(task, receiver, *group, *tensors_, transport, run, *resolved_),
                        where);
      });
    }
  }

  for (const auto& [step, jobs] : stages) {
    if (jobs.size() > kMaxJobsPerStep) {
      return absl::InvalidArgumentError(
          absl::StrCat("sync ", request.sync_id(), " asks this agent to run ", jobs.size(),
                       " transfers at once in wave ", step.first, " stage ", step.second,
                       "; accepted: at most ", kMaxJobsPerStep));
    }
  }
  v1::RunTasksResponse response;
  memory_->TakePeakBytes();
  int wave = stages.empty() ? 0 : stages.begin()->first.first;
  for (auto& [step, jobs] : stages) {
    const auto [job_wave, stage] = step;
    // A wave's staging is not needed by the next one.
    if (job_wave != wave) run.staging.Clear();
    wave = job_wave;
    const absl::Time start = absl::Now();
    absl::Mutex mu;
    absl::Status first_error;
    auto run_job = [&](const std::function<absl::Status()>& job) {
      absl::Status status = job();
      if (status.ok()) return;
      bool first = false;
      {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) {
          first_error = status;
          first = true;
        }
      }
      // Peers of this sync on this agent would otherwise wait for their deadline.
      if (first) transport_->Abort(request.sync_id(), status);
    };
    std::vector<std::thread> threads;
    for (size_t i = 1; i < jobs.size(); ++i) threads.emplace_back(run_job, std::cref(jobs[i]));
    if (!jobs.empty()) run_job(jobs[0]);
    for (std::thread& thread : threads) thread.join();
    if (!first_error.ok()) return first_error;
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    if (stage == 0) {
      response.set_regroup_duration_ms(response.regroup_duration_ms() + ms);
      continue;
    }
    // Stages are numbered from 1; the response lists durations from stage 1
    // up, each summed over the waves.
    while (response.stage_duration_ms_size() < stage) response.add_stage_duration_ms(0);
    response.set_stage_duration_ms(stage - 1, response.stage_duration_ms(stage - 1) + ms);
  }
  run.staging.Clear();
  response.set_peak_staging_bytes(static_cast<int64_t>(memory_->TakePeakBytes()));
  // An endpoint whose process exited during the run may have sent or received
  // stale bytes: the sync must not commit.
  for (const EndpointKey& key : local) RETURN_IF_ERROR(tensors_->CheckPresent(key));
  response.set_bytes_received(run.counters.bytes);
  response.set_tensors_received(run.counters.tensors);
  return response;
}

}  // namespace paramsync::agent
