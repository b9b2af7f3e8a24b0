// File: agent/tasks/lora_merger.h
// -----------------------------------------------------------------------------
// Answers AgentControl.Lora (SyncGroupSpec.lora_mode MERGE): before a sync,
// merges the LoRA adapters of this agent's trainer endpoints into their base
// weights in place (W += scale * B @ A, MemoryOps::MergeLowRank), keeping a
// copy of each base weight as it was; after the sync, committed or failed,
// copies the originals back, bit for bit, and frees the copies. The copies
// are staging memory (MemoryOps::Allocate): the adapted weights of each rank.
//
// Adapters are the tensors whose ParameterSpec sets `lora`; each base weight
// an endpoint's adapters name has exactly one A and one B (types.proto's
// LoraSpec says the rest).
//
// An endpoint is merged under at most one sync at a time. A merge of an
// endpoint still merged under an earlier sync (its restore never came: the
// coordinator went away mid-sync) restores it first. A restore writes only
// into the registration it merged: once the endpoint was registered again
// (its process restarted) or its process exited, its memory no longer holds
// those weights, so the copies are dropped, with a warning. (A registration
// replaced during a restore stays mapped, TensorRegistry keeps retired
// endpoints for a request's time, so a write never hits unmapped memory.)
//
// Thread-safe; merges and restores run one at a time.
#ifndef PARAMSYNC_AGENT_TASKS_LORA_MERGER_H_
#define PARAMSYNC_AGENT_TASKS_LORA_MERGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/memory/memory_ops.h"
#include "agent/tensors/tensor_registry.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::agent {

class LoraMerger {
 public:
  // The pointers must outlive the merger; `memory` is where the registered
  // tensors live. Copies still held when the merger goes are freed, not
  // restored (call Restore(0) first to restore them).
  LoraMerger(const TensorRegistry* tensors, MemoryOps* memory)
      : tensors_(tensors), memory_(memory) {}

  // Merges every adapter pair of each of `endpoints` into its base weight,
  // under `sync_id` (> 0). All or nothing: nothing changes unless every
  // endpoint's adapters check out, and a failure midway restores what this
  // call merged. Returns the base weights merged and the bytes of their
  // copies.
  //
  // Errors name the endpoint and tensor. INVALID_ARGUMENT for sync_id 0, an
  // endpoint listed twice, or adapters that cannot merge: `lora` set with a
  // role other than A or B, or no base; a base the endpoint did not register,
  // or that is itself an adapter, or not exactly one A and one B for it; A
  // and B scales that differ, or a scale that is not finite and non-zero in
  // float32; W, A and B not all float32, float16 or bfloat16 alike; shapes
  // other than W [m, n], A [r, n], B [m, r]; tensors not aligned to their
  // elements, or W overlapping A or B. NOT_FOUND / FAILED_PRECONDITION for an
  // endpoint that is not registered / whose process exited;
  // RESOURCE_EXHAUSTED when the copies do not fit in this memory.
  absl::StatusOr<v1::LoraResponse> Merge(
      uint64_t sync_id, const google::protobuf::RepeatedPtrField<v1::EndpointRef>& endpoints);

  // Restores every base weight merged under `sync_id` (0: under any sync)
  // and frees the copies; OK with base_weights 0 when nothing is held. A
  // weight whose copy could not be written back (the device failed) keeps its
  // copy for a later Restore, and the error names it.
  absl::StatusOr<v1::LoraResponse> Restore(uint64_t sync_id);

 private:
  // One base weight merged: where it is, and its original.
  struct Saved {
    std::string tensor;
    void* base = nullptr;
    std::unique_ptr<StagingBuffer> original;
  };
  // What one endpoint holds merged.
  struct Held {
    uint64_t sync_id = 0;
    uint64_t registration = 0;
    std::vector<Saved> weights;
  };
  // One base weight to merge, checked.
  struct PlannedMerge {
    std::string tensor;
    uint64_t bytes = 0;
    LowRankMerge merge;
  };
  struct Plan {
    EndpointKey endpoint;
    uint64_t registration = 0;
    std::vector<PlannedMerge> merges;
  };

  // Finds and checks `endpoint`'s adapter pairs (errors as Merge says).
  absl::StatusOr<Plan> PlanEndpoint(const EndpointKey& endpoint) const;
  // Copies W aside into `held`, then merges; on failure W is as it was, or
  // its copy is in `held`.
  absl::Status MergeOne(const PlannedMerge& planned, Held& held) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Restores what `endpoint` holds (held_ has it); adds the weights written
  // back to `*restored`.
  absl::Status RestoreEndpoint(const EndpointKey& endpoint, int* restored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TensorRegistry* const tensors_;
  MemoryOps* const memory_;
  absl::Mutex mu_;
  std::map<EndpointKey, Held> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TASKS_LORA_MERGER_H_
