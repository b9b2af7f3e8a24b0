#include "coordinator/registry/agent_registry.h"

#include <glog/logging.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace paramsync::coordinator {

namespace {

constexpr size_t kExpiredKept = 1024;

std::string RandomEpoch() {
  std::random_device random;
  return absl::StrFormat("%08x", random());
}

}  // namespace

AgentRegistry::AgentRegistry() : AgentRegistry(absl::ZeroDuration()) {}

AgentRegistry::AgentRegistry(absl::Duration lease)
    : id_prefix_(absl::StrCat("agent-", RandomEpoch(), "-")),
      lease_(std::max(lease, absl::ZeroDuration())) {}

AgentRegistry::~AgentRegistry() { StopExpiring(); }

void AgentRegistry::RememberExpired(const std::string& agent_id, absl::Duration silent) {
  expired_.emplace_back(agent_id, silent);
  if (expired_.size() > kExpiredKept) expired_.pop_front();
}

bool AgentRegistry::Lapsed(const Record& record, absl::Time now) const {
  return lease_ > absl::ZeroDuration() && now - record.last_heartbeat > lease_;
}

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
  const absl::Time now = absl::Now();
  v1::AgentInfo expired;
  absl::Duration silent;
  {
    absl::MutexLock lock(&mu_);
    auto it = agents_.find(agent_id);
    if (it == agents_.end()) {
      return absl::NotFoundError(absl::StrCat("agent ", agent_id, " is not registered"));
    }
    if (!Lapsed(it->second, now)) {
      it->second.last_heartbeat = now;
      return absl::OkStatus();
    }
    // Too late: a sync may already have given up on it. It registers again.
    expired = std::move(it->second.info);
    silent = now - it->second.last_heartbeat;
    RememberExpired(agent_id, silent);
    agents_.erase(it);
    ++generation_;
  }
  LOG(WARNING) << "agent " << agent_id << " at " << expired.address() << " heartbeat after "
               << absl::FormatDuration(silent) << " of silence (lease "
               << absl::FormatDuration(lease_) << "): expired; it must register again";
  if (on_expired_) on_expired_(expired, silent);
  return absl::NotFoundError(absl::StrCat("agent ", agent_id, "'s lease expired after ",
                                          absl::FormatDuration(silent),
                                          " without a heartbeat; register again"));
}

absl::Status AgentRegistry::CheckLease(const std::string& agent_id, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  auto no_heartbeat = [this](absl::Duration silent) {
    return absl::UnavailableError(absl::StrCat(
        "no heartbeat for ", absl::FormatDuration(absl::Trunc(silent, absl::Milliseconds(1))),
        " (lease ", absl::FormatDuration(lease_), "): it is dead or stuck"));
  };
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) {
    for (const auto& [id, silent] : expired_) {
      if (id == agent_id) return no_heartbeat(silent);
    }
    return absl::UnavailableError(
        "it is not registered any more (it restarted and registered again under another id)");
  }
  if (Lapsed(it->second, now)) return no_heartbeat(now - it->second.last_heartbeat);
  return absl::OkStatus();
}

std::vector<v1::AgentInfo> AgentRegistry::ExpireLapsed(absl::Time now) {
  std::vector<std::pair<v1::AgentInfo, absl::Duration>> expired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = agents_.begin(); it != agents_.end();) {
      auto current = it++;
      if (!Lapsed(current->second, now)) continue;
      RememberExpired(current->first, now - current->second.last_heartbeat);
      expired.emplace_back(std::move(current->second.info), now - current->second.last_heartbeat);
      agents_.erase(current);
    }
    if (!expired.empty()) ++generation_;
  }
  std::vector<v1::AgentInfo> out;
  for (auto& [info, silent] : expired) {
    LOG(WARNING) << "agent " << info.agent_id() << " at " << info.address()
                 << " sent no heartbeat for " << absl::FormatDuration(silent) << " (lease "
                 << absl::FormatDuration(lease_)
                 << "): expired as dead or stuck; it must register again";
    if (on_expired_) on_expired_(info, silent);
    out.push_back(std::move(info));
  }
  return out;
}

void AgentRegistry::StartExpiring(ExpiredCallback on_expired, absl::Duration period) {
  if (lease_ == absl::ZeroDuration() || expiry_thread_.joinable()) return;
  on_expired_ = std::move(on_expired);
  expiry_thread_ = std::thread([this, period] {
    while (!stop_expiring_.WaitForNotificationWithTimeout(period)) ExpireLapsed();
  });
}

void AgentRegistry::StopExpiring() {
  if (!expiry_thread_.joinable()) return;
  stop_expiring_.Notify();
  expiry_thread_.join();
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

std::vector<v1::AgentInfo> AgentRegistry::List() const { return Sorted(std::nullopt); }

std::vector<v1::AgentInfo> AgentRegistry::ListWithHeartbeatAge(absl::Time now) const {
  return Sorted(now);
}

std::vector<v1::AgentInfo> AgentRegistry::Sorted(std::optional<absl::Time> age_at) const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::AgentInfo> out;
  for (const auto& [id, record] : agents_) {
    out.push_back(record.info);
    if (age_at.has_value()) {
      out.back().set_heartbeat_age_ms(absl::ToInt64Milliseconds(*age_at - record.last_heartbeat));
    }
  }
  std::sort(out.begin(), out.end(), [](const v1::AgentInfo& a, const v1::AgentInfo& b) {
    return a.address() < b.address();
  });
  return out;
}

}  // namespace paramsync::coordinator
