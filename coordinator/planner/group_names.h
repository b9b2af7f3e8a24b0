// File: coordinator/planner/group_names.h
// -----------------------------------------------------------------------------
// Names of the NCCL collective groups the seed's sync creates (broadcast only;
// a p2p sync runs in the one global group named after the sync group). Names
// are deterministic, so every process derives the same ones:
//   single stage:  {group}_{param_group}_from_{sender}_to_{r1}_{r2}...
//   stage 1:       {group}_stage1_comm_{param_group}_from_{sender}_to_{r1}_{r2}...
//   stage 2:       {group}_stage2_comm_{batch}_{chunk}_{index}_{param_group}_from_{s}_to_{r}
//   regrouping:    {group}_allgather_routed_among_{r1}_{r2}... (alltoall likewise)
// param_group is "default", or "routed" / "except_routed" for HEP syncs whose
// routed experts have their own mapping.
#ifndef PARAMSYNC_COORDINATOR_PLANNER_GROUP_NAMES_H_
#define PARAMSYNC_COORDINATOR_PLANNER_GROUP_NAMES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "coordinator/planner/replica_groups.h"
#include "coordinator/planner/send_recv_mapping.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

// A broadcast group: its name, the sender and the receivers.
struct BroadcastGroup {
  std::string name;
  int root = 0;
  std::vector<int> receivers;
};

// The groups SingleStageGroupNames() names: one per sender, in mapping order.
std::vector<BroadcastGroup> SingleStageGroups(absl::string_view group_name,
                                              absl::string_view param_group,
                                              const SendRecvMapping& mapping);

// The stage-2 groups TwoStageGroupNames() names: one per stage-2 pair, in the
// seed's batch / chunk / index order.
std::vector<BroadcastGroup> StageTwoGroups(absl::string_view group_name,
                                           absl::string_view param_group,
                                           const SendRecvMapping& stage2, int dst_tp);

// One broadcast group per sender and all its receivers, in mapping order.
std::vector<std::string> SingleStageGroupNames(absl::string_view group_name,
                                               absl::string_view param_group,
                                               const SendRecvMapping& mapping);

// Stage 1: one group per sender and its receivers. Stage 2: one group per
// (sender, receiver) pair. The seed gathers the stage-2 pairs, in mapping order,
// into batches of pairs that share no rank (each batch can run concurrently),
// cuts each batch into chunks of `dst_tp` pairs, and numbers groups by batch,
// chunk and position. Where a batch is longer than dst_tp but not a multiple of
// it, the seed drops its last partial chunk and those pairs never sync; here
// that chunk is named too.
std::vector<std::string> TwoStageGroupNames(absl::string_view group_name,
                                            absl::string_view param_group,
                                            const SendRecvMapping& stage1,
                                            const SendRecvMapping& stage2, int dst_tp);

// The group trainer ranks `ranks` regroup routed experts in:
// {group}_allgather_routed_among_{r1}_{r2}... (the seed's name), or for
// all-to-all, which the seed runs in Megatron's own groups,
// {group}_alltoall_routed_among_{r1}_{r2}...
std::string RegroupGroupName(absl::string_view group_name, RegroupCommType comm_type,
                             const RankList& ranks);

// One all-gather group per regroup group (the seed creates none for all-to-all).
std::vector<std::string> AllGatherGroupNames(absl::string_view group_name,
                                             const RankGroups& regroup_groups);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_GROUP_NAMES_H_
