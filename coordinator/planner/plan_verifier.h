// File: coordinator/planner/plan_verifier.h
// -----------------------------------------------------------------------------
// Checks a sync plan against its topology before any byte moves, so that a
// plan that would leave an inference rank without weights, write a rank twice
// or ask NCCL for a group it cannot form is refused instead of executed. Pure:
// no I/O, no clock, no randomness. Time and memory are
// O(ranks + pairs + inference ranks * src.pp / dst.pp) (rule 6).
//
// The checks are at rank level: which ranks receive which trainer pipeline
// stage of which param group, from whom, in which group. Which TP / EP slice a
// transfer carries, tensor shapes and dtypes are the executor's to check.
//
// Example:
//   ASSIGN_OR_RETURN(planner::SyncPlan plan, planner::BuildSyncPlan(topology));
//   RETURN_IF_ERROR(planner::VerifySyncPlan(topology, plan));
//   for (const planner::PlannedTransfer& t : plan.transfers) ...
#ifndef PARAMSYNC_COORDINATOR_PLANNER_PLAN_VERIFIER_H_
#define PARAMSYNC_COORDINATOR_PLANNER_PLAN_VERIFIER_H_

#include "absl/status/status.h"
#include "coordinator/planner/sync_plan.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner {

// Returns OK if `plan` is safe to execute for `topology`, else
// FAILED_PRECONDITION whose message names the violated rule, the offending
// ranks (up to 8 problems, then a count) and, where there is one, the transfer
// (its index in `plan.transfers`) and group name. The first rule that fails,
// in this order, decides the error:
//
// 1. Endpoints. The sizes give num_src = src.tp*src.pp*src.dp trainer ranks
//    (0 .. num_src-1) and num_dst = dst.replicas*dst.tp*dst.pp*dst.ep
//    inference ranks (after them), with every size >= 1 and dst.pp dividing
//    src.pp. `topology.endpoints` holds exactly one endpoint per rank, is_src
//    exactly for trainer ranks, pp_rank within its side's pp.
// 2. Well-formed transfers. stage is 1 or 2; param_group is "default",
//    "except_routed" or "routed" ("routed" only in stage 1); at least one
//    receiver, none listed twice, the root not among them; every rank is in
//    the topology; stage 1 sends from a trainer rank to inference ranks,
//    stage 2 from an inference rank to inference ranks. For p2p
//    (plan.comm_type) each transfer has one receiver and runs in the global
//    group: group_name == topology.group_name.
// 3. GPUs. Within a transfer no two receivers share a (node, gpu); the root
//    may share a GPU with a receiver (ChatLearn's colocated equal-TP plans do:
//    that pair moves by device copy, not through NCCL). The members of each
//    all-gather group named in collective_groups are trainer ranks on distinct
//    GPUs.
// 4. Group names. A broadcast group name belongs to one membership (root and
//    receivers): two transfers of different membership never share a name.
//    It is "{topology.group_name}[_...]_{param_group}_from_{root}_to_{r1}_{r2}..."
//    with the receivers in order (ChatLearn's names). collective_groups has no duplicates and is
//    exactly the set of broadcast transfers' group names plus the all-gather groups
//    "{topology.group_name}_allgather_routed_among_{r1}_{r2}..." of groups in
//    plan.regroup_groups (p2p transfers name no collective group).
// 5. Stage order. The root of a stage-2 transfer received the same param
//    group in stage 1 (stage 2 relays what stage 1 delivered, nothing else).
// 6. Coverage, exactly once. Let I = src.pp / dst.pp. An inference rank of
//    pipeline stage j needs, of each param group the sync uses, the shards of
//    trainer pipeline stages j*I .. j*I+I-1 (the seed's pipe_map_interval). A
//    stage-1 transfer gives each receiver the trainer stage of its root; a
//    stage-2 transfer gives each receiver every trainer stage its root received
//    in stage 1 (same param group). Each inference rank must get each stage it
//    needs exactly once: never from two senders of one trainer stage, never in
//    both stage 1 and stage 2, and never a stage that maps onto another
//    inference stage. The param groups the sync uses are those its transfers
//    name, where "default" excludes the other two and "except_routed" and
//    "routed" come together; a plan without transfers needs "default". One
//    exception, from ChatLearn: HEP with vLLM inference and
//    src.tp*src.ep != dst.tp*dst.ep maps no routed-expert pairs; the trainer
//    regroups routed experts (plan.regroup_groups non-empty) and they travel
//    along the "except_routed" transfers, so "routed" transfers are not needed.
// 7. Pair lists. plan.stage1 (stage-1 transfers other than "routed"),
//    plan.stage2 and plan.routed_experts hold, as multisets of
//    (sender, receiver), exactly the pairs of the transfers.
//
// Not checked: send_order, src_dp_ranks / dst_dp_ranks, and which TP or EP
// slice a sender holds.
absl::Status VerifySyncPlan(const SyncTopology& topology, const SyncPlan& plan);

}  // namespace paramsync::planner

#endif  // PARAMSYNC_COORDINATOR_PLANNER_PLAN_VERIFIER_H_
