// File: coordinator/executor/sync_validator.h
// -----------------------------------------------------------------------------
// Validates a sync whose transfers finished, before it commits
// (SyncRequest.validate): one round of Digest calls, every agent at once
// (SyncExecutor::Digest), then every check of the ValidationPlan: a destination
// tensor's digest must equal the sum of its source regions' digests.
#ifndef PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_VALIDATOR_H_
#define PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_VALIDATOR_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "coordinator/executor/sync_executor.h"
#include "coordinator/sync/transfer_plan_builder.h"
#include "coordinator/sync/validation_plan.h"

namespace paramsync::coordinator {

// OK when every destination tensor of `transfer` matches its source.
// DATA_LOSS when some differ, naming them (the first kMaxListedTensors, then
// how many more) and saying that nothing was committed (the caller must not
// commit); the digest round's error (naming the agent) when it fails.
absl::Status ValidateSync(SyncExecutor& executor, const TransferPlan& transfer,
                          const ValidationPlan& plan, uint64_t sync_id, int64_t version,
                          absl::Time deadline);

inline constexpr size_t kMaxListedTensors = 8;

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_EXECUTOR_SYNC_VALIDATOR_H_
