// File: coordinator/sync/lora_parameters.h
// -----------------------------------------------------------------------------
// Which registered tensors a sync plans, by its group's LoRA mode
// (SyncGroupSpec.lora_mode). Applied where a sync's participants are gathered
// (sync_participants.h), so that both strategies plan (and validation checks)
// only these:
//   MERGE (or unset): adapters are left out on both sides. The trainer's base
//     weights sync as ordinary tensors: their agents merge the adapters into
//     them before any task runs (lora_merge_plan.h), HEP regroups included;
//   ADAPTERS_ONLY: only adapters are kept, on both sides.
// A group whose endpoints register no adapter plans exactly as without a mode.
// Pure.
#ifndef PARAMSYNC_COORDINATOR_SYNC_LORA_PARAMETERS_H_
#define PARAMSYNC_COORDINATOR_SYNC_LORA_PARAMETERS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/registry/endpoint_registry.h"
#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::coordinator {

// Trainer model rank -> the names of its base weights that adapters update.
using AdaptedBases = std::map<int, std::set<std::string>>;

// Keeps in the parameters of `trainer` and `inference` (the group's endpoints)
// what a sync of `group` plans. Returns, for MERGE, the adapted base weights
// of every trainer rank that has any (empty for ADAPTERS_ONLY). ADAPTERS_ONLY
// with no adapter on the trainer or on the inference side (nothing would
// sync): FAILED_PRECONDITION naming the group and the model.
absl::StatusOr<AdaptedBases> ApplyLoraMode(const v1::SyncGroupSpec& group,
                                           std::vector<EndpointRecord>& trainer,
                                           std::vector<EndpointRecord>& inference);

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_SYNC_LORA_PARAMETERS_H_
