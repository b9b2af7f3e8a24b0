// File: coordinator/state/state_file.h
// -----------------------------------------------------------------------------
// The coordinator's durable state (--state_file): every sync group's spec, its
// committed and issued versions and a bounded recent history, so that a
// restarted coordinator keeps its groups and never reuses a version number.
//
// The whole state is one small snapshot (a few KB per group), rewritten on
// every change by write-to-temporary + fsync + rename + fsync of the directory:
// a reader (or a coordinator restarted after a crash at any instant) sees the
// old state or the new one, never a torn mix, and there is no journal to replay
// or compact. The file is a header line
//   paramsync-coordinator-state 1 <payload bytes> <crc32 of payload, 8 hex digits>
// followed by a binary v1.CoordinatorState. A file that does not check out
// (wrong header, length or checksum, unparsable, inconsistent versions) is
// refused, naming the path and the problem, rather than silently replaced.
//
// One coordinator per file: Open holds an exclusive flock on `<path>.lock`
// until the StateFile is destroyed (the kernel releases it when the process
// dies, kill -9 included). Thread-safe.
#ifndef PARAMSYNC_COORDINATOR_STATE_STATE_FILE_H_
#define PARAMSYNC_COORDINATOR_STATE_STATE_FILE_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "paramsync/v1/coordinator_state.pb.h"

namespace paramsync::coordinator {

class StateFile {
 public:
  // Larger files are refused as corrupt (the state is a few KB per group).
  static constexpr size_t kMaxFileBytes = size_t{64} << 20;

  // Loads the state at `path`; a missing file is an empty state, written at
  // once so that an unwritable location fails here rather than at the first
  // sync. Errors name `path`: unreadable or unwritable (the errno's code),
  // corrupt (DATA_LOSS), in use by another coordinator (FAILED_PRECONDITION).
  // Histories longer than `history_limit` keep their newest entries.
  static absl::StatusOr<std::unique_ptr<StateFile>> Open(const std::string& path,
                                                         size_t history_limit);
  ~StateFile();
  StateFile(const StateFile&) = delete;
  StateFile& operator=(const StateFile&) = delete;

  const std::string& path() const { return path_; }

  // Every group, by name, as last written (or loaded).
  std::vector<v1::SyncGroupState> Groups() const;

  // Records `group` (replacing the group of the same spec.name) with its history
  // cut to the newest `history_limit` entries, and returns once the whole
  // state is on disk. On error (naming the path) the file holds the previous
  // state or, rarely (the directory's fsync failed), this one; Groups() keeps
  // the previous state either way.
  absl::Status Put(v1::SyncGroupState group);

  // The file format, for tests. Decode's errors do not name a path.
  static std::string Encode(const v1::CoordinatorState& state);
  static absl::StatusOr<v1::CoordinatorState> Decode(absl::string_view bytes);

 private:
  StateFile(std::string path, size_t history_limit, int lock_fd)
      : path_(std::move(path)), history_limit_(history_limit), lock_fd_(lock_fd) {}
  absl::Status WriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const size_t history_limit_;
  const int lock_fd_;
  mutable absl::Mutex mu_;
  std::map<std::string, v1::SyncGroupState> groups_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paramsync::coordinator

#endif  // PARAMSYNC_COORDINATOR_STATE_STATE_FILE_H_
