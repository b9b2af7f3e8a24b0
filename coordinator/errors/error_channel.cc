#include "coordinator/errors/error_channel.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace paramsync::coordinator {

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

std::shared_ptr<ErrorChannel::Subscription> ErrorChannel::Subscribe() {
  auto subscription = std::make_shared<Subscription>();
  absl::MutexLock lock(&mu_);
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
  absl::MutexLock lock(&mu_);
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
  event.set_agent_id(agent_id);
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
