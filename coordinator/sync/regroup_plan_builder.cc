#include "coordinator/sync/regroup_plan_builder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "coordinator/planner/group_names.h"

namespace paramsync::coordinator {
namespace {

using Shape = std::vector<int64_t>;

void SetBox(v1::TensorBox* box, const Shape& start, const Shape& extent) {
  *box->mutable_start() = {start.begin(), start.end()};
  *box->mutable_extent() = {extent.begin(), extent.end()};
}

// One routed tensor as every member of a group holds it.
struct RoutedTensor {
  const v1::ParameterSpec* spec;
  Shape local;  // Shape on each member.
  int expert_dim;
  int split_dim;  // -1: not split by TP.
};

// The routed tensors of `rank`, checked for a usable expert_dim.
absl::StatusOr<std::vector<RoutedTensor>> RoutedTensorsOf(const planner::SyncTopology& topology,
                                                          const SyncRank& rank) {
  std::vector<RoutedTensor> out;
  for (const v1::ParameterSpec& p : rank.endpoint.parameters) {
    if (!IsRouted(topology, p)) continue;
    RoutedTensor t{&p, Shape(p.shape().begin(), p.shape().end()), p.expert_dim(),
                   p.has_tp_split_dim() ? p.tp_split_dim() : -1};
    if (t.expert_dim < 0 || t.expert_dim >= static_cast<int>(t.local.size()) ||
        t.expert_dim == t.split_dim) {
      return absl::FailedPreconditionError(
          absl::StrCat(Describe(rank), " registered routed tensor '", p.name(),
                       "' with expert_dim ", t.expert_dim, "; it must be a dimension of its ",
                       t.local.size(), "-dimensional shape other than tp_split_dim"));
    }
    out.push_back(t);
  }
  return out;
}

class GroupRegroup {
 public:
  GroupRegroup(const planner::SyncPlan& plan, const SyncParticipants& participants,
               const std::vector<int>& members)
      : plan_(plan), participants_(participants), members_(members) {
    const v1::ParallelConfig& p = Rank(members.front()).endpoint.spec.parallel();
    tp_ = std::max(1, p.tp_size());
    ep_ = std::max(1, p.ep_size());
    const planner::ModelParallelism& src = participants.topology.src;
    const planner::ModelParallelism& dst = participants.topology.dst;
    expert_layout_ = src.tp * src.ep == dst.tp * dst.ep;
  }

  absl::Status Build(v1::RegroupTask& task,
                     std::map<int, std::map<std::string, Shape>>& regrouped) {
    RETURN_IF_ERROR(IndexMembers());
    ASSIGN_OR_RETURN(const std::vector<RoutedTensor> tensors,
                     RoutedTensorsOf(participants_.topology, Rank(members_.front())));
    RETURN_IF_ERROR(CheckSameOnEveryMember(tensors));
    for (const RoutedTensor& tensor : tensors) {
      ASSIGN_OR_RETURN(const Shape shape, RegroupedShape(tensor));
      for (int receiver : members_) {
        regrouped[receiver][tensor.spec->name()] = shape;
        for (int sender : members_) AddPiece(tensor, sender, receiver, shape, task);
      }
    }
    return absl::OkStatus();
  }

 private:
  const SyncRank& Rank(int sync_rank) const { return participants_.ranks[sync_rank]; }

  // (ep_rank, tp_rank) of each member: a full TP x EP block, each once.
  absl::Status IndexMembers() {
    std::map<std::pair<int, int>, int> seen;
    for (int member : members_) {
      const v1::ParallelConfig& p = Rank(member).endpoint.spec.parallel();
      const std::pair<int, int> position(p.ep_rank(), p.tp_rank());
      if (p.ep_rank() < 0 || p.ep_rank() >= ep_ || p.tp_rank() < 0 || p.tp_rank() >= tp_ ||
          !seen.emplace(position, member).second) {
        return absl::FailedPreconditionError(
            absl::StrCat("regroup group ", absl::StrJoin(members_, ","),
                         " is not one TP x EP block: ", Describe(Rank(member)), " has ep_rank ",
                         p.ep_rank(), " tp_rank ", p.tp_rank(), " of ep ", ep_, " tp ", tp_));
      }
      position_[member] = position;
    }
    return absl::OkStatus();
  }

  absl::Status CheckSameOnEveryMember(const std::vector<RoutedTensor>& tensors) const {
    for (int member : members_) {
      ASSIGN_OR_RETURN(const std::vector<RoutedTensor> other,
                       RoutedTensorsOf(participants_.topology, Rank(member)));
      bool same = other.size() == tensors.size();
      for (size_t i = 0; same && i < tensors.size(); ++i) {
        same = other[i].spec->name() == tensors[i].spec->name() &&
               other[i].local == tensors[i].local && other[i].expert_dim == tensors[i].expert_dim &&
               other[i].split_dim == tensors[i].split_dim &&
               other[i].spec->dtype() == tensors[i].spec->dtype();
      }
      if (!same) {
        return absl::FailedPreconditionError(absl::StrCat(
            Describe(Rank(member)), " and ", Describe(Rank(members_.front())),
            " regroup routed experts together but registered different routed tensors (names, "
            "shapes, dtypes, expert_dim or tp_split_dim)"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Shape> RegroupedShape(const RoutedTensor& t) const {
    Shape shape = t.local;
    if (!expert_layout_) {
      shape[t.expert_dim] *= ep_;
      return shape;
    }
    if (shape[t.expert_dim] % tp_ != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "routed tensor '", t.spec->name(), "' holds ", shape[t.expert_dim],
          " experts per EP rank (dimension ", t.expert_dim, "), not divisible by src tp ", tp_,
          ": the expert layout gives each of the tp*ep ranks a whole block of experts"));
    }
    shape[t.expert_dim] /= tp_;
    if (t.split_dim >= 0) shape[t.split_dim] *= tp_;
    return shape;
  }

  // What `receiver` needs of `sender`'s tensor, if anything.
  void AddPiece(const RoutedTensor& t, int sender, int receiver, const Shape& regrouped,
                v1::RegroupTask& task) const {
    const auto [src_ep, src_tp] = position_.at(sender);
    const auto [dst_ep, dst_tp] = position_.at(receiver);
    Shape src_start(t.local.size(), 0);
    Shape extent = t.local;
    Shape dst_start(t.local.size(), 0);
    if (expert_layout_) {
      // Sub-block dst_tp of the EP block, from each TP rank of that block (just
      // the receiver itself when TP does not split the tensor).
      if (src_ep != dst_ep || (t.split_dim < 0 && src_tp != dst_tp)) return;
      const int64_t block = t.local[t.expert_dim] / tp_;
      src_start[t.expert_dim] = dst_tp * block;
      extent[t.expert_dim] = block;
      if (t.split_dim >= 0) dst_start[t.split_dim] = src_tp * t.local[t.split_dim];
    } else {
      // Each EP block with the receiver's TP shard, whole.
      if (src_tp != dst_tp) return;
      dst_start[t.expert_dim] = src_ep * t.local[t.expert_dim];
    }
    v1::RegroupPiece* piece = task.add_pieces();
    piece->set_src_sync_rank(sender);
    piece->set_dst_sync_rank(receiver);
    piece->set_name(t.spec->name());
    piece->set_dtype(t.spec->dtype());
    *piece->mutable_src_shape() = {t.local.begin(), t.local.end()};
    SetBox(piece->mutable_src_box(), src_start, extent);
    piece->set_send_whole(plan_.regroup_comm_type == planner::RegroupCommType::kAllGather);
    *piece->mutable_dst_shape() = {regrouped.begin(), regrouped.end()};
    SetBox(piece->mutable_dst_box(), dst_start, extent);
  }

  const planner::SyncPlan& plan_;
  const SyncParticipants& participants_;
  const std::vector<int>& members_;
  int tp_ = 1;
  int ep_ = 1;
  bool expert_layout_ = true;
  std::map<int, std::pair<int, int>> position_;  // Sync rank -> (ep_rank, tp_rank).
};

}  // namespace

const std::vector<int64_t>* RegroupPlan::RegroupedShape(int rank, const std::string& name) const {
  auto shapes = regrouped_shapes.find(rank);
  if (shapes == regrouped_shapes.end()) return nullptr;
  auto shape = shapes->second.find(name);
  return shape == shapes->second.end() ? nullptr : &shape->second;
}

bool IsRouted(const planner::SyncTopology& topology, const v1::ParameterSpec& parameter) {
  return topology.hep && parameter.has_expert_dim();
}

absl::StatusOr<RegroupPlan> BuildRegroupPlan(const planner::SyncPlan& plan,
                                             const SyncParticipants& participants) {
  RegroupPlan out;
  if (!participants.topology.hep || !plan.regroups_routed_experts) return out;
  for (const std::vector<int>& members : plan.regroup_groups) {
    v1::RegroupTask task;
    RETURN_IF_ERROR(GroupRegroup(plan, participants, members).Build(task, out.regrouped_shapes));
    if (task.pieces().empty()) continue;
    const std::string name = planner::RegroupGroupName(participants.topology.group_name,
                                                       plan.regroup_comm_type, members);
    task.set_group(name);
    out.groups.push_back({name, members, {std::move(task)}});
  }
  return out;
}

void SplitRegroupTasks(const StagingWaves& waves, uint64_t first_task_id, RegroupPlan& plan) {
  uint64_t next = first_task_id;
  for (RegroupPlan::Group& group : plan.groups) {
    std::map<int, v1::RegroupTask> by_wave;
    for (const v1::RegroupTask& task : group.tasks) {
      for (const v1::RegroupPiece& piece : task.pieces()) {
        v1::RegroupTask& part = by_wave[waves.WaveOf(piece.src_sync_rank(), piece.name())];
        *part.add_pieces() = piece;
      }
    }
    group.tasks.clear();
    for (auto& [wave, task] : by_wave) {
      task.set_task_id(next);
      task.set_group(group.name);
      task.set_wave(wave);
      next += group.members.size();
      group.tasks.push_back(std::move(task));
    }
  }
  plan.next_task_id = next;
}

}  // namespace paramsync::coordinator
