// File: agent/tasks/digest_runner.h
// -----------------------------------------------------------------------------
// Answers AgentControl.Digest: finds each item's registered tensor, checks the
// item's boxes against it, and has the agent's memory digest every region of
// the request in one pass (a single kernel launch on a GPU). What the digests
// mean is common/tensor_digest.h's; which regions to digest is the
// coordinator's (coordinator/sync/validation_plan.h).
//
// Requests name a plan (DigestRequest.plan_id): the regions resolved for it
// are kept, so the validated syncs of a plan send their items once, and later
// ones only the id (a few bytes instead of one item per tensor; no lookups).
// What was kept is dropped when any endpoint registers again (the registry's
// generation changes); the oldest plans go first beyond kMaxPlans.
// Thread-safe.
#ifndef PARAMSYNC_AGENT_TASKS_DIGEST_RUNNER_H_
#define PARAMSYNC_AGENT_TASKS_DIGEST_RUNNER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/memory/memory_ops.h"
#include "agent/tasks/plan_cache.h"
#include "agent/tensors/tensor_registry.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::agent {

class DigestRunner {
 public:
  static constexpr size_t kMaxPlans = 16;

  // The pointers must outlive the runner; `memory` is where the registered
  // tensors live.
  DigestRunner(const TensorRegistry* tensors, MemoryOps* memory)
      : tensors_(tensors), memory_(memory) {}

  // The digests of `request.items()` (or of those kept under its plan_id), in
  // order. Errors name the item (index, endpoint, tensor): NOT_FOUND for an
  // unknown endpoint or tensor, or a plan this agent does not hold;
  // FAILED_PRECONDITION for an endpoint whose process exited;
  // INVALID_ARGUMENT when an item's region lies outside its tensor or its
  // logical parameter.
  absl::StatusOr<v1::DigestResponse> Run(const v1::DigestRequest& request);

 private:
  // A request's regions, resolved at a registry generation.
  struct Resolved {
    uint64_t generation = 0;
    std::vector<PlannedDigest> regions;
  };

  absl::StatusOr<std::shared_ptr<const Resolved>> Resolve(const v1::DigestRequest& request) const;

  const TensorRegistry* const tensors_;
  MemoryOps* const memory_;
  PlanCache<Resolved> plans_{kMaxPlans};
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TASKS_DIGEST_RUNNER_H_
