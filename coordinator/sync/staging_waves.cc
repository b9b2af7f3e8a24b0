#include "coordinator/sync/staging_waves.h"

#include <algorithm>

namespace paramsync::coordinator {

int StagingWaves::WaveOf(int rank, const std::string& name) const {
  auto it = waves_.find({rank, name});
  return it == waves_.end() ? 0 : it->second;
}

StagingWaves PlanStagingWaves(
    const SyncParticipants& participants, int64_t budget_bytes,
    const std::function<uint64_t(int rank, const v1::ParameterSpec& parameter)>& staged_bytes) {
  StagingWaves out;
  if (budget_bytes <= 0) return out;
  const uint64_t budget = static_cast<uint64_t>(budget_bytes);
  for (int rank = 0; rank < participants.num_src; ++rank) {
    int wave = 0;
    uint64_t in_wave = 0;
    for (const v1::ParameterSpec& p : participants.ranks[rank].endpoint.parameters) {
      const uint64_t bytes = staged_bytes(rank, p);
      if (in_wave > 0 && in_wave + bytes > budget) {
        ++wave;
        in_wave = 0;
      }
      in_wave += bytes;
      out.waves_[{rank, p.name()}] = wave;
      out.count_ = std::max(out.count_, wave + 1);
    }
  }
  return out;
}

}  // namespace paramsync::coordinator
