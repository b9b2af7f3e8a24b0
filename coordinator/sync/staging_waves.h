// File: coordinator/sync/staging_waves.h
// -----------------------------------------------------------------------------
// Bounded staging: a sync that stages data on its way (two-stage syncs keep
// whole shards to forward or slice; HEP regroups assemble routed experts) runs
// in waves, each moving a part of every trainer rank's tensors through all of
// the sync's steps, so no agent ever stages more than one wave: about
// `budget_bytes` per endpoint instead of a second copy of the model. Tensors
// keep their order; a wave closes before the tensor that would take it over the
// budget, so only a single tensor larger than the budget makes a wave larger.
// Pure.
#ifndef PARAMSYNC_COORDINATOR_SYNC_STAGING_WAVES_H_
#define PARAMSYNC_COORDINATOR_SYNC_STAGING_WAVES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "coordinator/sync/sync_participants.h"

namespace paramsync::coordinator {

// What a sync group stages at most per endpoint when its spec sets no budget.
// With the CUDA context this keeps an agent's own GPU memory (everything but
// NCCL's buffers) under 1 GiB.
inline constexpr int64_t kDefaultStagingBudgetBytes = int64_t{256} << 20;

class StagingWaves {
 public:
  // The wave of trainer rank `rank`'s tensor `name` (0 when not planned).
  int WaveOf(int rank, const std::string& name) const;
  int count() const { return count_; }

 private:
  friend StagingWaves PlanStagingWaves(
      const SyncParticipants&, int64_t,
      const std::function<uint64_t(int, const v1::ParameterSpec&)>&);
  std::map<std::pair<int, std::string>, int> waves_;
  int count_ = 1;
};

// Waves over each trainer rank's parameters, in registration order, where
// `staged_bytes(rank, parameter)` is what moving it stages. A budget of 0 or
// less puts everything in one wave.
StagingWaves PlanStagingWaves(
    const SyncParticipants& participants, int64_t budget_bytes,
    const std::function<uint64_t(int rank, const v1::ParameterSpec& parameter)>& staged_bytes);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_STAGING_WAVES_H_
