// File: agent/tasks/staging_store.h
// -----------------------------------------------------------------------------
// Tensors one sync keeps on this agent for a later step of the same sync:
// shards a two-stage receiver forwards in stage 2, and routed-expert tensors a
// trainer rank assembled in a regroup. Keyed by (endpoint, tensor name); lives
// for one TaskRunner::Run. Thread-safe.
#ifndef PARAMSYNC_AGENT_TASKS_STAGING_STORE_H_
#define PARAMSYNC_AGENT_TASKS_STAGING_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/memory/memory_ops.h"
#include "agent/tensors/tensor_registry.h"

namespace paramsync::agent {

// A staged tensor: all of it, or (TensorMove.sliced_on_wire) its slices in
// order but the one the receiver took straight into its own tensor.
struct StagedTensor {
  std::shared_ptr<StagingBuffer> bytes;
  int missing_slice = -1;  // -1: the whole tensor.
};

class StagingStore {
 public:
  void Put(const EndpointKey& endpoint, const std::string& name,
           std::shared_ptr<StagingBuffer> bytes, int missing_slice = -1) {
    absl::MutexLock lock(&mu_);
    buffers_[{endpoint, name}] = StagedTensor{std::move(bytes), missing_slice};
  }

  // Drops everything (buffers still used by a caller live until it lets go).
  void Clear() {
    absl::MutexLock lock(&mu_);
    buffers_.clear();
  }

  // FAILED_PRECONDITION when nothing is staged under the key.
  absl::StatusOr<StagedTensor> Get(const EndpointKey& endpoint, const std::string& name) const {
    absl::MutexLock lock(&mu_);
    auto it = buffers_.find({endpoint, name});
    if (it == buffers_.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("nothing staged for tensor '", name, "' of ", endpoint.first, " rank ",
                       endpoint.second, ": its earlier stage did not deliver it here"));
    }
    return it->second;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::pair<EndpointKey, std::string>, StagedTensor> buffers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TASKS_STAGING_STORE_H_
