#include "coordinator/errors/error_channel.h"

#include <catch2/catch.hpp>
#include <thread>

namespace paramsync::coordinator {
namespace {

TEST_CASE("Every watcher receives every event, in order", "[error_channel]") {
  ErrorChannel channel;
  auto first = channel.Subscribe();
  auto second = channel.Subscribe();
  channel.Publish(absl::UnavailableError("agent-3 is gone"), "agent-3", "g", 4);
  channel.Publish(absl::DeadlineExceededError("slow"), "", "g", 5);
  for (auto& watcher : {first, second}) {
    std::optional<v1::ErrorEvent> a = watcher->Next(absl::Seconds(1));
    std::optional<v1::ErrorEvent> b = watcher->Next(absl::Seconds(1));
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(a->agent_id() == "agent-3");
    CHECK(a->code() == static_cast<int>(absl::StatusCode::kUnavailable));
    CHECK(a->version() == 4);
    CHECK(a->time_unix_ms() > 0);
    CHECK(b->message() == "slow");
    CHECK_FALSE(watcher->Next(absl::Milliseconds(10)).has_value());
  }
}

TEST_CASE("A watcher that falls behind is told how many events it lost", "[error_channel]") {
  ErrorChannel channel;
  auto watcher = channel.Subscribe();
  for (size_t i = 0; i < ErrorChannel::kQueueLimit + 5; ++i) {
    channel.Publish(absl::InternalError("e"), "", "g", static_cast<int64_t>(i));
  }
  std::optional<v1::ErrorEvent> lost = watcher->Next(absl::Seconds(1));
  REQUIRE(lost.has_value());
  CHECK(lost->code() == static_cast<int>(absl::StatusCode::kResourceExhausted));
  CHECK(lost->message().find("5 error events were dropped") != std::string::npos);
  std::optional<v1::ErrorEvent> next = watcher->Next(absl::Seconds(1));
  REQUIRE(next.has_value());
  CHECK(next->version() == 5);
}

TEST_CASE("Close wakes a waiting watcher", "[error_channel]") {
  ErrorChannel channel;
  auto watcher = channel.Subscribe();
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    channel.Close();
  });
  const absl::Time start = absl::Now();
  CHECK_FALSE(watcher->Next(absl::Seconds(10)).has_value());
  CHECK(absl::Now() - start < absl::Seconds(5));
  CHECK(watcher->closed());
  closer.join();
}

TEST_CASE("A watcher can replay the kept events published since a time", "[error_channel]") {
  ErrorChannel channel;
  v1::ErrorEvent old_event;
  old_event.set_time_unix_ms(absl::ToUnixMillis(absl::Now() - absl::Minutes(1)));
  old_event.set_message("old");
  channel.Publish(old_event);
  const absl::Time since = absl::Now();
  channel.Publish(absl::AbortedError("sync 9 was aborted here"), "agent-2", "", 0);
  auto live = channel.Subscribe();
  auto catching_up = channel.Subscribe(since);
  channel.Publish(absl::InternalError("new"), "", "g", 3);
  std::optional<v1::ErrorEvent> first = catching_up->Next(absl::Seconds(1));
  REQUIRE(first.has_value());
  CHECK(first->agent_id() == "agent-2");
  std::optional<v1::ErrorEvent> second = catching_up->Next(absl::Seconds(1));
  REQUIRE(second.has_value());
  CHECK(second->message() == "new");
  // The default: only what is published after subscribing.
  std::optional<v1::ErrorEvent> only = live->Next(absl::Seconds(1));
  REQUIRE(only.has_value());
  CHECK(only->message() == "new");
  CHECK_FALSE(live->Next(absl::Milliseconds(10)).has_value());
}

TEST_CASE("An event names the agent its status blames", "[error_channel]") {
  ErrorChannel channel;
  auto watcher = channel.Subscribe();
  const absl::Status blamed =
      WithFailedAgent(absl::UnavailableError("agent-7 at h:1 is unreachable"), "agent-7");
  CHECK(FailedAgent(blamed) == "agent-7");
  CHECK(FailedAgent(absl::UnavailableError("x")).empty());
  channel.Publish(blamed, "", "g", 2);
  std::optional<v1::ErrorEvent> event = watcher->Next(absl::Seconds(1));
  REQUIRE(event.has_value());
  CHECK(event->agent_id() == "agent-7");
  CHECK(event->group() == "g");
}

}  // namespace
}  // namespace paramsync::coordinator
