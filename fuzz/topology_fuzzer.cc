// Fuzz target: the planner's input path. The bytes are JSON text of a
// `topology` object (the golden cases' format, plan_json.h); a topology that
// parses is planned (BuildSyncPlan) and the plan verified (VerifySyncPlan).
//
// Contract checked, beyond "no crash, no hang, no huge allocation":
// - TopologyFromJson and BuildSyncPlan refuse only with INVALID_ARGUMENT, as
//   their headers promise;
// - every plan BuildSyncPlan returns passes VerifySyncPlan: a plan that fails
//   verification is a planner bug, so the target aborts and libFuzzer reports it.
//
// Corpus: fuzz/corpus/topology_fuzzer/ (the golden cases' topologies).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "coordinator/planner/plan_builder.h"
#include "coordinator/planner/plan_json.h"
#include "coordinator/planner/plan_verifier.h"

namespace {

void Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "topology_fuzzer: %s: %s\n", what, status.ToString().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace paramsync::planner;  // NOLINT(build/namespaces)
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<SyncTopology> topology = TopologyFromJson(text);
  if (!topology.ok()) {
    if (!absl::IsInvalidArgument(topology.status())) {
      Fail("TopologyFromJson refused with a code other than INVALID_ARGUMENT", topology.status());
    }
    return 0;
  }
  absl::StatusOr<SyncPlan> plan = BuildSyncPlan(*topology);
  if (!plan.ok()) {
    if (!absl::IsInvalidArgument(plan.status())) {
      Fail("BuildSyncPlan refused with a code other than INVALID_ARGUMENT", plan.status());
    }
    return 0;
  }
  absl::Status verified = VerifySyncPlan(*topology, *plan);
  if (!verified.ok()) Fail("BuildSyncPlan returned a plan VerifySyncPlan refuses", verified);
  // The JSON form of the plan must be producible for every plan.
  if (PlanToJson(*plan).empty()) Fail("PlanToJson returned nothing", absl::OkStatus());
  return 0;
}
