// File: coordinator/registry/agent_registry.h
// -----------------------------------------------------------------------------
// The agents the coordinator knows: one per device, each with an id assigned at
// registration and the time of its last heartbeat. Thread-safe.
//
// Leases: with a lease, an agent whose heartbeats stop for longer than the
// lease (it died, froze, or lost its network) is dead: ExpireLapsed() removes
// it, as if it had never registered, so its endpoints' agent is gone, plans
// that named it are stale, and its next heartbeat gets NOT_FOUND, upon which
// it registers again (with its endpoints) under a new id.
#ifndef PARAMSYNC_COORDINATOR_REGISTRY_AGENT_REGISTRY_H_
#define PARAMSYNC_COORDINATOR_REGISTRY_AGENT_REGISTRY_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::coordinator {

class AgentRegistry {
 public:
  // Called with an agent that ExpireLapsed() removed and how long it had been
  // silent.
  using ExpiredCallback = std::function<void(const v1::AgentInfo&, absl::Duration silent)>;

  // Without a lease agents never expire.
  AgentRegistry();
  explicit AgentRegistry(absl::Duration lease);
  ~AgentRegistry();  // Stops the expiry thread, if started.

  // Validates `info` (address, host and device set) and records it under a new
  // id, which it returns. Ids are never reused, not even by another coordinator
  // process: an agent heartbeating with an id from before a restart must get
  // NOT_FOUND, not be mistaken for whoever got that id since. An agent registering again from the
  // same address (it restarted, or this coordinator did) replaces its old record.
  absl::StatusOr<std::string> Register(v1::AgentInfo info);

  // NOT_FOUND when `agent_id` is unknown: the agent must register again. An
  // agent whose lease lapsed is expired here rather than renewed.
  absl::Status Heartbeat(const std::string& agent_id);

  // Zero when agents never expire.
  absl::Duration lease() const { return lease_; }

  // OK while `agent_id` is registered and its lease has not lapsed at `now`;
  // otherwise UNAVAILABLE saying why, without naming the agent (no heartbeat
  // for how long; or not registered any more: expired, or registered again
  // under another id).
  absl::Status CheckLease(const std::string& agent_id, absl::Time now = absl::Now()) const;

  // Removes every agent whose last heartbeat is older than the lease at `now`,
  // passes each to the expiry callback and returns them. No-op without a lease.
  std::vector<v1::AgentInfo> ExpireLapsed(absl::Time now = absl::Now());

  // Runs ExpireLapsed() every `period` on a thread of the registry, calling
  // `on_expired` (may be null) for each agent it removes, until
  // StopExpiring() or destruction. No-op without a lease.
  void StartExpiring(ExpiredCallback on_expired, absl::Duration period);
  void StopExpiring();

  // Changes whenever the set of agents or their addresses changes (not on
  // heartbeats): plans built from an older generation are stale.
  int64_t generation() const;

  absl::StatusOr<v1::AgentInfo> Get(const std::string& agent_id) const;
  bool Contains(const std::string& agent_id) const;
  std::vector<v1::AgentInfo> List() const;
  // Every agent, by address, with heartbeat_age_ms as of `now` (ListAgents).
  std::vector<v1::AgentInfo> ListWithHeartbeatAge(absl::Time now = absl::Now()) const;

 private:
  struct Record {
    v1::AgentInfo info;
    absl::Time last_heartbeat;
  };

  bool Lapsed(const Record& record, absl::Time now) const;
  // Every agent, by address; with heartbeat_age_ms as of `age_at` when given.
  std::vector<v1::AgentInfo> Sorted(std::optional<absl::Time> age_at) const;

  const std::string id_prefix_;  // "agent-<this coordinator's random epoch>-".
  const absl::Duration lease_;   // Zero: no expiry.
  ExpiredCallback on_expired_;   // Set before the expiry thread starts.
  absl::Notification stop_expiring_;
  std::thread expiry_thread_;
  mutable absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, Record> agents_ ABSL_GUARDED_BY(mu_);
  // The last agents expired and how long each had been silent, so that
  // CheckLease() says why one is gone.
  std::deque<std::pair<std::string, absl::Duration>> expired_ ABSL_GUARDED_BY(mu_);
  void RememberExpired(const std::string& agent_id, absl::Duration silent)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_REGISTRY_AGENT_REGISTRY_H_
