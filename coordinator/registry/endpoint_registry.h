// File: coordinator/registry/endpoint_registry.h
// -----------------------------------------------------------------------------
// Framework endpoints (trainer and inference ranks) with their parameters, the
// agent each lives on, and the weights version each holds. Thread-safe.
#ifndef PARAMSYNC_COORDINATOR_REGISTRY_ENDPOINT_REGISTRY_H_
#define PARAMSYNC_COORDINATOR_REGISTRY_ENDPOINT_REGISTRY_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/registry/agent_registry.h"
#include "paramsync/v1/coordinator.pb.h"

namespace paramsync::coordinator {

struct EndpointRecord {
  v1::EndpointSpec spec;
  std::string agent_id;
  std::vector<v1::ParameterSpec> parameters;
  int64_t version = 0;  // 0: never synced.
  // Nonzero: a sync of this version failed after it may have written into the
  // endpoint, which did not commit it; its bytes may be a mix of `version`
  // and this one until a sync commits.
  int64_t interrupted_version = 0;
};

class EndpointRegistry {
 public:
  // `agents` decides whether a duplicate's current holder is alive; it must
  // outlive this registry.
  explicit EndpointRegistry(const AgentRegistry* agents) : agents_(agents) {}

  // Records the endpoint. INVALID_ARGUMENT for a malformed spec or parameters
  // (LoRA adapters included: lora_validation.h), or a layout other ranks of
  // the model disagree with; NOT_FOUND for an unknown agent; ALREADY_EXISTS
  // when another live agent holds (model, rank). The same agent registering it
  // again replaces it (its framework process restarted).
  // The endpoint's version is the one its agent reports holding.
  absl::Status Register(const v1::RegisterEndpointRequest& request);

  // Every endpoint of `model`, by rank. Empty when the model is unknown.
  std::vector<EndpointRecord> Model(const std::string& model) const;
  std::vector<EndpointRecord> All() const;

  // The endpoint holds `version` (clears an interruption).
  void SetVersion(const std::string& model, int rank, int64_t version);
  // A sync of `version` failed before the endpoint committed it.
  void MarkInterrupted(const std::string& model, int rank, int64_t version);

  // How many endpoints of each model hold each version (metrics).
  std::map<std::pair<std::string, int64_t>, int> CountByVersion() const;

  // Changes whenever an endpoint or its parameters change (not on version
  // updates): plans built from an older generation are stale.
  int64_t generation() const;

 private:
  const AgentRegistry* const agents_;
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, int>, EndpointRecord> endpoints_ ABSL_GUARDED_BY(mu_);
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_REGISTRY_ENDPOINT_REGISTRY_H_
