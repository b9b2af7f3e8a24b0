#include "coordinator/registry/agent_registry.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace paramsync::coordinator {

namespace {

std::string RandomEpoch() {
  std::random_device random;
  return absl::StrFormat("%08x", random());
}

}  // namespace

AgentRegistry::AgentRegistry() : id_prefix_(absl::StrCat("agent-", RandomEpoch(), "-")) {}

absl::StatusOr<std::string> AgentRegistry::Register(v1::AgentInfo info) {
  if (info.address().empty()) return absl::InvalidArgumentError("agent.address must be set");
  if (info.host().empty()) return absl::InvalidArgumentError("agent.host must be set");
  if (info.device().empty()) return absl::InvalidArgumentError("agent.device must be set");
  absl::MutexLock lock(&mu_);
  for (auto it = agents_.begin(); it != agents_.end();) {
    auto current = it++;
    if (current->second.info.address() == info.address()) agents_.erase(current);
  }
  const std::string id = absl::StrCat(id_prefix_, next_id_++);
  info.set_agent_id(id);
  agents_[id] = Record{std::move(info), absl::Now()};
  ++generation_;
  return id;
}

absl::Status AgentRegistry::Heartbeat(const std::string& agent_id) {
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) {
    return absl::NotFoundError(absl::StrCat("agent ", agent_id, " is not registered"));
  }
  it->second.last_heartbeat = absl::Now();
  return absl::OkStatus();
}

int64_t AgentRegistry::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

absl::StatusOr<v1::AgentInfo> AgentRegistry::Get(const std::string& agent_id) const {
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) {
    return absl::NotFoundError(absl::StrCat("agent ", agent_id, " is not registered"));
  }
  return it->second.info;
}

bool AgentRegistry::Contains(const std::string& agent_id) const {
  absl::MutexLock lock(&mu_);
  return agents_.contains(agent_id);
}

std::vector<v1::AgentInfo> AgentRegistry::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::AgentInfo> out;
  for (const auto& [id, record] : agents_) out.push_back(record.info);
  std::sort(out.begin(), out.end(), [](const v1::AgentInfo& a, const v1::AgentInfo& b) {
    return a.address() < b.address();
  });
  return out;
}

}  // namespace paramsync::coordinator
