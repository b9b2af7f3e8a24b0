#include "bench/torch_loop_baseline.h"

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bench/child_process.h"

namespace paramsync::bench {
namespace {

constexpr absl::Duration kTorchBaselineTimeout = absl::Seconds(300);

}  // namespace

std::string ShardShapesJson(const std::vector<ParameterLayout>& parameters) {
  std::vector<std::string> items;
  for (const ParameterLayout& p : parameters) {
    items.push_back(absl::StrCat("[\"", p.name, "\", [",
                                 absl::StrJoin(ShardShape(p, RankLayout{2, 0}), ", "), "]]"));
  }
  return absl::StrCat("[", absl::StrJoin(items, ",\n "), "]\n");
}

absl::StatusOr<double> TorchLoopMs(const std::string& script,
                                   const std::vector<ParameterLayout>& parameters,
                                   const std::string& work_dir, int runs) {
  const std::string shapes_path = work_dir + "/torch_baseline_shapes.json";
  const std::string log_path = work_dir + "/torch_baseline.log";
  {
    std::ofstream shapes(shapes_path);
    shapes << ShardShapesJson(parameters);
    if (!shapes.good()) return absl::InternalError(absl::StrCat("cannot write ", shapes_path));
  }
  // env finds python3 on PATH (execv does not search it).
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Spawn(
      {"/usr/bin/env", "python3", script, shapes_path, absl::StrCat(runs)}, log_path, false);
  if (!child.ok()) return child.status();
  const bool timed_out = !(*child)->WaitForExit(kTorchBaselineTimeout);
  if (timed_out) {
    // The child leads its own process group (ChildProcess::Spawn): end the
    // torch workers it spawned with it.
    kill(-(*child)->pid(), SIGTERM);
    absl::SleepFor(absl::Seconds(3));
    kill(-(*child)->pid(), SIGKILL);
  }
  const int status = (*child)->Wait(absl::Seconds(5));
  std::ifstream log(log_path);
  std::string line, last_line;
  double ms = -1;
  while (std::getline(log, line)) {
    if (line.empty()) continue;
    last_line = line;
    if (absl::StartsWith(line, "torch_loop_ms=") &&
        !absl::SimpleAtod(line.substr(sizeof("torch_loop_ms=") - 1), &ms)) {
      ms = -1;
    }
  }
  const std::string tail = absl::StrCat(
      "; last output line: ", last_line.empty() ? "(none)" : last_line, " (", log_path, ")");
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat("python3 ", script, " did not finish within ",
                                                    absl::FormatDuration(kTorchBaselineTimeout),
                                                    " and was killed", tail));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("python3 ", script, " failed (",
                                            WIFEXITED(status)
                                                ? absl::StrCat("exit ", WEXITSTATUS(status))
                                                : absl::StrCat("signal ", WTERMSIG(status)),
                                            ")", tail));
  }
  if (ms <= 0 || !absl::StartsWith(last_line, "torch_loop_ms=")) {
    return absl::InternalError(
        absl::StrCat("python3 ", script, " printed no torch_loop_ms=<ms> last line", tail));
  }
  return ms;
}

}  // namespace paramsync::bench
