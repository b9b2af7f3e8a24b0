// File: coordinator/errors/error_channel.h
// -----------------------------------------------------------------------------
// The error channel: every error of a sync or reported by an agent is published
// here and fanned out to every watcher (WatchErrors streams). Each watcher has a
// bounded queue; a watcher too slow to keep up loses the oldest events and is
// told how many through a synthetic event, rather than slowing publishers.
// The channel also keeps its last kRecentLimit events, so that a watcher that
// (re)connects can ask for what it missed since a time (e.g. a coordinator
// restart: agents report the syncs they aborted once they reach the new one).
#ifndef PARAMSYNC_COORDINATOR_ERRORS_ERROR_CHANNEL_H_
#define PARAMSYNC_COORDINATOR_ERRORS_ERROR_CHANNEL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::coordinator {

// Marks `status` as caused by agent `agent_id` (a payload): an event published
// from it names that agent even where the publisher does not know it.
absl::Status WithFailedAgent(absl::Status status, const std::string& agent_id);
// The agent WithFailedAgent() named, or empty.
std::string FailedAgent(const absl::Status& status);

class ErrorChannel {
 public:
  static constexpr size_t kQueueLimit = 1024;
  static constexpr size_t kRecentLimit = 256;

  class Subscription {
   public:
    // The next event, or nullopt when `timeout` passes or the channel closed.
    std::optional<v1::ErrorEvent> Next(absl::Duration timeout);
    bool closed() const;

   private:
    friend class ErrorChannel;
    mutable absl::Mutex mu_;
    std::deque<v1::ErrorEvent> queue_ ABSL_GUARDED_BY(mu_);
    int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
    bool closed_ ABSL_GUARDED_BY(mu_) = false;
  };

  ErrorChannel() = default;
  // `on_publish` sees every event as published (e.g. metrics counting them),
  // outside the channel's lock; it must be quick and thread-safe.
  explicit ErrorChannel(std::function<void(const v1::ErrorEvent&)> on_publish)
      : on_publish_(std::move(on_publish)) {}

  // A new watcher. It first gets the kept events published at or after
  // `since` (none with the default), then every new one.
  std::shared_ptr<Subscription> Subscribe(absl::Time since = absl::InfiniteFuture());
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription);

  // Stamps the time when unset and delivers to every subscriber.
  void Publish(v1::ErrorEvent event);
  // Convenience for coordinator-side errors; an empty `agent_id` is taken from
  // the status (WithFailedAgent), if it names one.
  void Publish(const absl::Status& error, const std::string& agent_id, const std::string& group,
               int64_t version);

  // Wakes and ends every subscription (shutdown).
  void Close();

 private:
  const std::function<void(const v1::ErrorEvent&)> on_publish_;
  absl::Mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subscribers_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::ErrorEvent> recent_ ABSL_GUARDED_BY(mu_);  // The last kRecentLimit events.
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_ERRORS_ERROR_CHANNEL_H_
