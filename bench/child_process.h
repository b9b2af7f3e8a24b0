// File: bench/child_process.h
// -----------------------------------------------------------------------------
// A child process of a local cluster: a daemon (output to a log file) or an
// interactive framework process that answers one line per command line.
// Destroying it ends it: an interactive child first gets end-of-input (so it
// can clean up, e.g. unlink its shared memory), then SIGTERM, then SIGKILL.
#ifndef PARAMSYNC_BENCH_CHILD_PROCESS_H_
#define PARAMSYNC_BENCH_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace paramsync::bench {

class ChildProcess {
 public:
  // Starts `argv`. Its stderr (and, unless `interactive`, its stdout) goes to
  // `log_path`; an interactive child's stdin and stdout are pipes to us.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& argv,
                                                             const std::string& log_path,
                                                             bool interactive);
  ~ChildProcess();

  absl::Status WriteLine(const std::string& line);
  // DEADLINE_EXCEEDED after `timeout`; UNAVAILABLE when the child closed stdout.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);
  // Sends a command and returns the reply line.
  absl::StatusOr<std::string> Command(const std::string& line,
                                      absl::Duration timeout = absl::Seconds(60));

  void Signal(int signal);
  // Waits for the child to exit by itself up to `timeout`, then kills it
  // (SIGKILL). Returns the exit status as waitpid reports it.
  int Wait(absl::Duration timeout);
  // Sends SIGTERM, then Wait(grace).
  int Terminate(absl::Duration grace = absl::Seconds(5));
  bool Running();
  // True once the child exited, waiting at most `timeout`; leaves it running
  // otherwise.
  bool WaitForExit(absl::Duration timeout);

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

 private:
  ChildProcess(pid_t pid, int stdin_fd, int stdout_fd, std::string log_path)
      : pid_(pid), stdin_fd_(stdin_fd), stdout_fd_(stdout_fd), log_path_(std::move(log_path)) {}

  pid_t pid_;
  int stdin_fd_;
  int stdout_fd_;
  std::string log_path_;
  std::string buffer_;  // Read but not yet returned.
  bool exited_ = false;
  int exit_status_ = 0;
};

// The address (host:port) a daemon started as `process` writes to `path`
// (--address_file) once it serves; UNAVAILABLE when the process exits first,
// DEADLINE_EXCEEDED after `timeout`.
absl::StatusOr<std::string> WaitForAddressFile(const std::string& path, ChildProcess& process,
                                               absl::Duration timeout);

}  // namespace paramsync::bench

#endif  // PARAMSYNC_BENCH_CHILD_PROCESS_H_
