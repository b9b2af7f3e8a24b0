// File: agent/tensors/tensor_registry.h
// -----------------------------------------------------------------------------
// The tensors of the framework endpoints on this agent's device, mapped into the
// agent so that transfers read and write them in place.
//
// Thread-safe. Lookups return views that stay valid while the endpoint stays
// registered; re-registering an endpoint (its process restarted) replaces it, so
// callers must not hold views across syncs.
#ifndef PARAMSYNC_AGENT_TENSORS_TENSOR_REGISTRY_H_
#define PARAMSYNC_AGENT_TENSORS_TENSOR_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/tensors/ipc_mapper.h"
#include "common/shared_memory.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::agent {

// (model, rank): how the coordinator and tasks name an endpoint.
using EndpointKey = std::pair<std::string, int>;

// The endpoint a collective group member stands for.
inline EndpointKey KeyOf(const v1::GroupMember& member) {
  return EndpointKey(member.model(), member.model_rank());
}

// A registered tensor as mapped into this process.
struct TensorView {
  const v1::ParameterSpec* spec = nullptr;
  char* data = nullptr;
  uint64_t nbytes = 0;
};

// Every tensor of one registration of an endpoint.
struct EndpointTensors {
  uint64_t registration = 0;        // As Registration() says.
  std::vector<TensorView> tensors;  // In the order they were registered.
};

class TensorRegistry {
 public:
  // A registry of host tensors in shared memory (CPU agents), or, with
  // `device_mapper`, of GPU tensors shared by CUDA IPC handle (GPU agents). Each
  // refuses the other kind with FAILED_PRECONDITION saying what would work.
  explicit TensorRegistry(IpcMapper* device_mapper = nullptr) : device_mapper_(device_mapper) {}

  // Maps the request's shared-memory regions and records the endpoint, replacing
  // an earlier registration of the same (model, rank). INVALID_ARGUMENT names the
  // tensor when its spec is malformed, names repeat, or its bytes do not lie
  // inside its region or disagree with dtype x shape; NOT_FOUND when a region
  // does not exist.
  absl::Status RegisterEndpoint(const v1::LocalRegisterEndpointRequest& request);

  // Forgets an endpoint (its registration was refused upstream).
  void Remove(const EndpointKey& endpoint);

  // Which registration of `endpoint` is current (it changes when the endpoint is
  // registered again); NOT_FOUND for an unknown endpoint.
  absl::StatusOr<uint64_t> Registration(const EndpointKey& endpoint) const;

  // Marks registration `registration` of `endpoint` gone (its process exited):
  // Find() and CheckPresent() then fail for it. Its memory stays mapped, so
  // transfers in flight never touch unmapped memory. No effect once the
  // endpoint was registered again.
  void MarkGone(const EndpointKey& endpoint, uint64_t registration);

  // FAILED_PRECONDITION when `endpoint` is gone, NOT_FOUND when unknown.
  absl::Status CheckPresent(const EndpointKey& endpoint) const;

  // Changes whenever any endpoint is registered, removed or marked gone: views
  // resolved at an older generation may be stale.
  uint64_t generation() const;

  // NOT_FOUND names what is missing.
  absl::StatusOr<TensorView> Find(const EndpointKey& endpoint, const std::string& tensor) const;

  // All of `endpoint`'s tensors, with the registration they belong to (read
  // together, so a caller can tell later whether they were replaced). Errors
  // as CheckPresent().
  absl::StatusOr<EndpointTensors> Tensors(const EndpointKey& endpoint) const;

  // The registration requests, for re-registering with a restarted coordinator.
  std::vector<v1::LocalRegisterEndpointRequest> Registrations() const;

  void SetVersion(const EndpointKey& endpoint, int64_t version);
  // NOT_FOUND for an unknown endpoint; 0 before its first sync.
  absl::StatusOr<int64_t> GetVersion(const EndpointKey& endpoint) const;

 private:
  struct Endpoint {
    v1::LocalRegisterEndpointRequest request;
    std::vector<std::shared_ptr<SharedMemoryRegion>> regions;  // Keeps mappings alive.
    absl::flat_hash_map<std::string, TensorView> tensors;      // Points into `request`.
    int64_t version = 0;
    uint64_t registration = 0;
    bool gone = false;
  };

  // Maps one tensor's memory, by its shared-memory region or its IPC handle.
  absl::StatusOr<TensorView> MapTensor(
      const v1::LocalTensor& tensor,
      absl::flat_hash_map<std::string, std::shared_ptr<SharedMemoryRegion>>& regions,
      std::vector<std::shared_ptr<SharedMemoryRegion>>& keep_alive);

  // The endpoint registered as `endpoint`; NOT_FOUND naming it otherwise.
  absl::StatusOr<const Endpoint*> Registered(const EndpointKey& endpoint) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registered(), and FAILED_PRECONDITION when its framework process is gone.
  absl::StatusOr<const Endpoint*> Present(const EndpointKey& endpoint) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  IpcMapper* const device_mapper_;
  mutable absl::Mutex mu_;
  // std::map: an Endpoint's address must be stable, views point into it.
  std::map<EndpointKey, std::unique_ptr<Endpoint>> endpoints_ ABSL_GUARDED_BY(mu_);
  uint64_t next_registration_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  // Replaced or removed endpoints, kept mapped while a task may still hold views
  // into them: no task outlives kMaxRequestTime.
  void Retire(std::unique_ptr<Endpoint> endpoint) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::pair<absl::Time, std::unique_ptr<Endpoint>>> retired_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TENSORS_TENSOR_REGISTRY_H_
