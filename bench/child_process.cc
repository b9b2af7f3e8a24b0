#include "bench/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace paramsync::bench {

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::vector<std::string>& argv, const std::string& log_path, bool interactive) {
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path));
  int in_pipe[2] = {-1, -1};
  int out_pipe[2] = {-1, -1};
  if (interactive && (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0)) {
    close(log_fd);
    return absl::InternalError("pipe failed");
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(interactive ? in_pipe[0] : open("/dev/null", O_RDONLY), STDIN_FILENO);
    dup2(interactive ? out_pipe[1] : log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    // Children die with the harness, whatever kills it.
    setpgid(0, 0);
    execv(args[0], args.data());
    dprintf(log_fd, "exec %s failed: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  close(log_fd);
  if (interactive) {
    close(in_pipe[0]);
    close(out_pipe[1]);
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, interactive ? in_pipe[1] : -1,
                                                        interactive ? out_pipe[0] : -1, log_path));
}

ChildProcess::~ChildProcess() {
  if (stdin_fd_ >= 0) {
    close(stdin_fd_);
    WaitForExit(absl::Seconds(2));
  }
  Terminate(absl::Seconds(3));
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

absl::Status ChildProcess::WriteLine(const std::string& line) {
  const std::string data = line + "\n";
  if (stdin_fd_ < 0) return absl::FailedPreconditionError("child is not interactive");
  if (write(stdin_fd_, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    return absl::UnavailableError(absl::StrCat("child ", pid_, " does not read its input"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ChildProcess::ReadLine(absl::Duration timeout) {
  if (stdout_fd_ < 0) return absl::FailedPreconditionError("child is not interactive");
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    const int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (wait_ms <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("child ", pid_, " did not answer within ",
                                                      absl::FormatDuration(timeout), "; see ",
                                                      log_path_));
    }
    pollfd fd{stdout_fd_, POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(wait_ms)) <= 0) continue;
    char chunk[4096];
    const ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrCat("child ", pid_, " closed its output; see ", log_path_));
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::string> ChildProcess::Command(const std::string& line, absl::Duration timeout) {
  absl::Status written = WriteLine(line);
  if (!written.ok()) return written;
  return ReadLine(timeout);
}

void ChildProcess::Signal(int signal) {
  if (!exited_) kill(pid_, signal);
}

bool ChildProcess::Running() {
  if (exited_) return false;
  if (waitpid(pid_, &exit_status_, WNOHANG) == pid_) exited_ = true;
  return !exited_;
}

int ChildProcess::Terminate(absl::Duration grace) {
  if (!Running()) return exit_status_;
  kill(pid_, SIGTERM);
  return Wait(grace);
}

bool ChildProcess::WaitForExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

int ChildProcess::Wait(absl::Duration timeout) {
  if (WaitForExit(timeout)) return exit_status_;
  kill(pid_, SIGKILL);
  waitpid(pid_, &exit_status_, 0);
  exited_ = true;
  return exit_status_;
}

absl::StatusOr<std::string> WaitForAddressFile(const std::string& path, ChildProcess& process,
                                               absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::ifstream in(path);
    std::string address;
    if (in && std::getline(in, address) && !address.empty()) return address;
    if (!process.Running()) {
      return absl::UnavailableError(
          absl::StrCat("process exited before serving; see ", process.log_path()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no address in ", path, " after ", absl::FormatDuration(timeout)));
}

}  // namespace paramsync::bench
