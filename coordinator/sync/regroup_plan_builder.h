// File: coordinator/sync/regroup_plan_builder.h
// -----------------------------------------------------------------------------
// The routed-expert regroup of a HEP sync: which piece of which trainer rank's
// routed tensors each other trainer rank receives, and the shape of the tensor
// each rank assembles and then sends instead of its own. Pure.
//
// A trainer rank with ep_rank e and tp_rank t holds n = E / ep experts of each
// routed tensor (expert_dim), split by TP along tp_split_dim. The regroup gives
// it, within its regroup group (one pipeline stage's TP x EP ranks):
// - when src tp*ep == dst tp*ep ("expert layout"): expert block h = e*tp + t of
//   E / (tp*ep) experts, each whole: sub-block t of its EP block, gathered from
//   the TP ranks of that block. All-to-all sends each rank exactly its part;
//   all-gather sends whole shards and the receiver keeps its part.
// - otherwise ("TP layout"): every expert, still split by TP: EP blocks gathered
//   from the ranks with the same tp_rank (all-gather).
#ifndef PARAMSYNC_COORDINATOR_SYNC_REGROUP_PLAN_BUILDER_H_
#define PARAMSYNC_COORDINATOR_SYNC_REGROUP_PLAN_BUILDER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/planner/sync_plan.h"
#include "coordinator/sync/staging_waves.h"
#include "coordinator/sync/sync_participants.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::coordinator {

struct RegroupPlan {
  // One per regroup group: its collective group and members (sync ranks in
  // group order), and its tasks, one per staging wave with pieces in it.
  struct Group {
    std::string name;
    std::vector<int> members;
    std::vector<v1::RegroupTask> tasks;
  };
  std::vector<Group> groups;
  // Regrouped shape of each routed tensor, by trainer sync rank and name.
  std::map<int, std::map<std::string, std::vector<int64_t>>> regrouped_shapes;
  uint64_t next_task_id = 1;  // The first id after those the tasks reserved.

  // The shape `rank` assembles its tensor `name` in, or nullptr when the
  // tensor is not regrouped there.
  const std::vector<int64_t>* RegroupedShape(int rank, const std::string& name) const;
};

// Whether `parameter` is a routed-expert weight in a sync of `plan` (HEP syncs
// only; elsewhere expert weights travel like any other).
bool IsRouted(const planner::SyncTopology& topology, const v1::ParameterSpec& parameter);

// Empty when the plan regroups nothing (no regroup groups or no routed
// tensors). FAILED_PRECONDITION, naming the rank and tensor, when routed tensors
// differ between the ranks of a group or do not split as the layout needs. Each
// group gets one task, wave 0, without an id (see SplitRegroupTasks).
absl::StatusOr<RegroupPlan> BuildRegroupPlan(const planner::SyncPlan& plan,
                                             const SyncParticipants& participants);

// Splits each group's task by the waves of its pieces' tensors and numbers the
// tasks from `first_task_id`, each reserving one id per member (its pairs'
// transfer keys).
void SplitRegroupTasks(const StagingWaves& waves, uint64_t first_task_id, RegroupPlan& plan);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_REGROUP_PLAN_BUILDER_H_
