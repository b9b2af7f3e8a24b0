#include "coordinator/errors/error_channel.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace paramsync::coordinator {
namespace {

constexpr char kFailedAgentUrl[] = "type.paramsync.dev/failed_agent";

}  // namespace

absl::Status WithFailedAgent(absl::Status status, const std::string& agent_id) {
  if (!status.ok() && !agent_id.empty()) status.SetPayload(kFailedAgentUrl, absl::Cord(agent_id));
  return status;
}

std::string FailedAgent(const absl::Status& status) {
  absl::optional<absl::Cord> agent = status.GetPayload(kFailedAgentUrl);
  return agent.has_value() ? std::string(*agent) : std::string();
}

std::optional<v1::ErrorEvent> ErrorChannel::Subscription::Next(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || dropped_ > 0 || closed_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (dropped_ > 0) {
    v1::ErrorEvent lost;
    lost.set_time_unix_ms(absl::ToUnixMillis(absl::Now()));
    lost.set_code(static_cast<int>(absl::StatusCode::kResourceExhausted));
    lost.set_message(
        absl::StrCat(dropped_, " error events were dropped: this watcher fell behind"));
    dropped_ = 0;
    return lost;
  }
  if (queue_.empty()) return std::nullopt;
  v1::ErrorEvent event = std::move(queue_.front());
  queue_.pop_front();
  return event;
}

bool ErrorChannel::Subscription::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

std::shared_ptr<ErrorChannel::Subscription> ErrorChannel::Subscribe(absl::Time since) {
  auto subscription = std::make_shared<Subscription>();
  absl::MutexLock lock(&mu_);
  const int64_t since_ms = absl::ToUnixMillis(since);
  if (since != absl::InfiniteFuture()) {
    for (const v1::ErrorEvent& event : recent_) {
      if (event.time_unix_ms() >= since_ms) subscription->queue_.push_back(event);
    }
  }
  subscribers_.push_back(subscription);
  return subscription;
}

void ErrorChannel::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), subscription),
                     subscribers_.end());
}

void ErrorChannel::Publish(v1::ErrorEvent event) {
  if (event.time_unix_ms() == 0) event.set_time_unix_ms(absl::ToUnixMillis(absl::Now()));
  if (on_publish_) on_publish_(event);
  absl::MutexLock lock(&mu_);
  recent_.push_back(event);
  if (recent_.size() > kRecentLimit) recent_.pop_front();
  for (const auto& subscriber : subscribers_) {
    absl::MutexLock queue_lock(&subscriber->mu_);
    if (subscriber->queue_.size() >= kQueueLimit) {
      subscriber->queue_.pop_front();
      ++subscriber->dropped_;
    }
    subscriber->queue_.push_back(event);
  }
}

void ErrorChannel::Publish(const absl::Status& error, const std::string& agent_id,
                           const std::string& group, int64_t version) {
  v1::ErrorEvent event;
  event.set_code(static_cast<int>(error.code()));
  event.set_message(std::string(error.message()));
  event.set_agent_id(agent_id.empty() ? FailedAgent(error) : agent_id);
  event.set_group(group);
  event.set_version(version);
  Publish(std::move(event));
}

void ErrorChannel::Close() {
  absl::MutexLock lock(&mu_);
  for (const auto& subscriber : subscribers_) {
    absl::MutexLock queue_lock(&subscriber->mu_);
    subscriber->closed_ = true;
  }
}

}  // namespace paramsync::coordinator
