// File: agent/tasks/group_table.h
// -----------------------------------------------------------------------------
// The collective groups this agent takes part in, as the coordinator set them
// up, with the transport state each needs. Thread-safe.
#ifndef PARAMSYNC_AGENT_TASKS_GROUP_TABLE_H_
#define PARAMSYNC_AGENT_TASKS_GROUP_TABLE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/metrics/agent_metrics.h"
#include "agent/transport/transport.h"
#include "paramsync/v1/agent.pb.h"

namespace paramsync::agent {

// A group as tasks use it: the transport's view plus each member's endpoint.
struct CollectiveGroup {
  v1::CollectiveGroupSpec spec;
  GroupView view;

  // nullptr when `sync_rank` is not a member.
  const v1::GroupMember* Member(int sync_rank) const;
};

class GroupTable {
 public:
  explicit GroupTable(Transport* transport) : transport_(transport) {}

  // Where setups and the number of groups are recorded; optional, set once
  // before the first Setup().
  void set_metrics(AgentMetrics* metrics) { metrics_ = metrics; }

  // Validates `spec` (non-empty name, members with distinct sync ranks and an
  // address each) and sets it up in the transport, unless a group of that name
  // with the same members exists already.
  absl::Status Setup(const v1::CollectiveGroupSpec& spec);

  // Setup() of every group at once: communicators of different groups are
  // created concurrently (each waits for its other members, so one at a time
  // would make a plan's first sync pay for all of them in turn). Returns the
  // first error; the other groups still finish.
  absl::Status SetupAll(const google::protobuf::RepeatedPtrField<v1::CollectiveGroupSpec>& specs);

  // NOT_FOUND when the coordinator never set `name` up here (or destroyed it).
  absl::StatusOr<std::shared_ptr<const CollectiveGroup>> Find(const std::string& name) const;

  // Destroys `names` (empty: all) in the transport.
  void Destroy(const std::vector<std::string>& names);

  size_t size() const;

 private:
  Transport* const transport_;
  AgentMetrics* metrics_ = nullptr;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const CollectiveGroup>> groups_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::agent

#endif  // PARAMSYNC_AGENT_TASKS_GROUP_TABLE_H_
