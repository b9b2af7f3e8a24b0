// File: coordinator/registry/agent_registry.h
// -----------------------------------------------------------------------------
// The agents the coordinator knows: one per device, each with an id assigned at
// registration and the time of its last heartbeat. Thread-safe.
#ifndef PARAMSYNC_COORDINATOR_REGISTRY_AGENT_REGISTRY_H_
#define PARAMSYNC_COORDINATOR_REGISTRY_AGENT_REGISTRY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::coordinator {

class AgentRegistry {
 public:
  AgentRegistry();

  // Validates `info` (address, host and device set) and records it under a new
  // id, which it returns. Ids are never reused, not even by another coordinator
  // process: an agent heartbeating with an id from before a restart must get
  // NOT_FOUND, not be mistaken for whoever got that id since. An agent registering again from the
  // same address (it restarted, or this coordinator did) replaces its old record.
  absl::StatusOr<std::string> Register(v1::AgentInfo info);

  // NOT_FOUND when `agent_id` is unknown: the agent must register again.
  absl::Status Heartbeat(const std::string& agent_id);

  // Changes whenever the set of agents or their addresses changes (not on
  // heartbeats): plans built from an older generation are stale.
  int64_t generation() const;

  absl::StatusOr<v1::AgentInfo> Get(const std::string& agent_id) const;
  bool Contains(const std::string& agent_id) const;
  std::vector<v1::AgentInfo> List() const;

 private:
  struct Record {
    v1::AgentInfo info;
    absl::Time last_heartbeat;
  };

  const std::string id_prefix_;  // "agent-<this coordinator's random epoch>-".
  mutable absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, Record> agents_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_REGISTRY_AGENT_REGISTRY_H_
