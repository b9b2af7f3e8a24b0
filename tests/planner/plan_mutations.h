// File: tests/planner/plan_mutations.h
// -----------------------------------------------------------------------------
// Test helpers that break a valid sync plan in one specific way, for the
// verifier's tests. A mutation edits `transfers` (or the topology's placement,
// or collective_groups) and then re-derives the plan's other fields from the
// transfers, so that only the intended rule of VerifySyncPlan() is broken.
#ifndef PARAMSYNC_TESTS_PLANNER_PLAN_MUTATIONS_H_
#define PARAMSYNC_TESTS_PLANNER_PLAN_MUTATIONS_H_

#include <optional>
#include <random>
#include <string>

#include "absl/strings/string_view.h"
#include "coordinator/planner/sync_plan.h"
#include "coordinator/planner/sync_topology.h"

namespace paramsync::planner::testing {

enum class Mutation {
  kDropPair,               // Remove one receiver from a stage-1 transfer.
  kDuplicateReceiver,      // A dst rank gets a trainer stage it already gets, again.
  kStage2RootWithoutData,  // A stage-2 transfer sends from a rank that got nothing in stage 1.
  kReceiversShareGpu,      // Two receivers of one transfer (or all-gather members) on one GPU.
  kDuplicateGroupName,     // Two transfers of different members share a group name.
  kGroupListMismatch,      // collective_groups disagrees with the transfers.
  kSrcRankReceives,        // A trainer rank listed as a receiver.
  kRankOutsideTopology,    // A rank number the topology does not have.
};
inline constexpr Mutation kAllMutations[] = {
    Mutation::kDropPair,          Mutation::kDuplicateReceiver,   Mutation::kStage2RootWithoutData,
    Mutation::kReceiversShareGpu, Mutation::kDuplicateGroupName,  Mutation::kGroupListMismatch,
    Mutation::kSrcRankReceives,   Mutation::kRankOutsideTopology,
};

absl::string_view MutationName(Mutation mutation);

// What the verifier's error message must mention after a mutation.
struct Broken {
  std::string description;
  std::string needle;  // A rank number or a group name.
  bool needle_is_rank = true;
};

// Applies `mutation` to `topology` / `plan` (which must verify), choosing where
// with `rng`. Returns nullopt, leaving both unchanged, when the plan has no
// place for this mutation (e.g. no stage 2, no transfer with two receivers).
std::optional<Broken> Mutate(Mutation mutation, std::mt19937_64& rng, SyncTopology& topology,
                             SyncPlan& plan);

// Re-derives stage1, stage2, routed_experts and collective_groups (keeping its
// all-gather groups) from plan.transfers.
void DeriveFieldsFromTransfers(const SyncTopology& topology, SyncPlan& plan);

// Whether `text` mentions the integer `number` as a whole number.
bool MentionsNumber(absl::string_view text, int number);

}  // namespace paramsync::planner::testing

#endif  // PARAMSYNC_TESTS_PLANNER_PLAN_MUTATIONS_H_
