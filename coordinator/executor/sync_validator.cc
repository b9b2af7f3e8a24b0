#include "coordinator/executor/sync_validator.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace paramsync::coordinator {

absl::Status ValidateSync(SyncExecutor& executor, const TransferPlan& transfer,
                          const ValidationPlan& plan, uint64_t sync_id, int64_t version,
                          absl::Time deadline) {
  absl::StatusOr<std::vector<v1::DigestResponse>> digests =
      executor.Digest(transfer, plan.requests, sync_id, deadline);
  if (!digests.ok()) {
    return absl::Status(digests.status().code(), absl::StrCat("validating version ", version, ": ",
                                                              digests.status().message()));
  }
  auto digest = [&](const ValidationPlan::DigestRef& ref) {
    return (*digests)[ref.agent].digests(ref.item);
  };
  std::vector<std::string> differing;
  size_t count = 0;
  for (const ValidationPlan::Check& check : plan.checks) {
    uint64_t expected = 0;  // Wraps, as the digests' sums do.
    for (const ValidationPlan::DigestRef& source : check.sources) expected += digest(source);
    if (digest(check.destination) == expected) continue;
    if (differing.size() < kMaxListedTensors) differing.push_back(check.tensor);
    ++count;
  }
  if (count == 0) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "validation of version ", version, " failed: ", count, " of ", plan.checks.size(),
      " destination tensors differ from their source: ", absl::StrJoin(differing, ", "),
      count > differing.size() ? absl::StrCat(", and ", count - differing.size(), " more") : "",
      "; nothing was committed: endpoints keep their version number, their tensors hold this "
      "sync's unvalidated bytes until the next sync (if the trainer changed its weights during "
      "the sync, that explains it)"));
}

}  // namespace paramsync::coordinator
