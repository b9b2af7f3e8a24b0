// paramsyncctl as a user runs it: offline planning from golden topologies, and
// create-group / sync / status against a live local cluster.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/child_process.h"
#include "bench/local_cluster.h"

namespace paramsync::bench {
namespace {

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr.
};

Result Ctl(const std::vector<std::string>& args) {
  static int runs = 0;
  const std::string log = absl::StrCat(MakeWorkDir("ctl"), "/out", runs++, ".log");
  std::vector<std::string> argv = {"client/paramsyncctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Spawn(argv, log, false);
  REQUIRE(process.ok());
  const int status = (*process)->Wait(absl::Seconds(60));
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return Result{WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

nlohmann::json ReadCase(const std::string& id) {
  std::ifstream in(absl::StrCat("tests/planner/golden/", id, ".json"));
  return nlohmann::json::parse(in);
}

std::string WriteTopology(const nlohmann::json& topology) {
  const std::string path = absl::StrCat(MakeWorkDir("topology"), "/topology.json");
  std::ofstream(path) << topology.dump();
  return path;
}

TEST_CASE("paramsyncctl plan prints the golden plan of a topology", "[paramsyncctl]") {
  const nlohmann::json golden = ReadCase("028");
  Result r = Ctl({"plan", "--topology=" + WriteTopology(golden["topology"]), "--format=json"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json plan = nlohmann::json::parse(r.output);
  const nlohmann::json& expected = golden["expected"];
  CHECK(plan["tp_num_mapping"] == expected["tp_num_mapping"]);
  CHECK(plan["collective_groups"] == expected["collective_groups"]);
  auto sorted = [](nlohmann::json pairs) {
    std::vector<std::vector<int>> v = pairs.get<std::vector<std::vector<int>>>();
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(plan["stage1"]) == sorted(expected["stage1"]));
  CHECK(sorted(plan["stage2"]) == sorted(expected["stage2"]));
}

TEST_CASE("paramsyncctl plan refuses bad topologies with a JSON error and exit 1",
          "[paramsyncctl]") {
  Result rejected = Ctl({"plan", "--topology=" + WriteTopology(ReadCase("072")["topology"])});
  INFO(rejected.output);
  CHECK(rejected.exit_code == 1);
  const nlohmann::json error = nlohmann::json::parse(rejected.output)["error"];
  CHECK(error["code"] == "INVALID_ARGUMENT");
  CHECK(error["message"].get<std::string>().find("tp") != std::string::npos);

  const std::string garbage = absl::StrCat(MakeWorkDir("garbage"), "/t.json");
  std::ofstream(garbage) << "{\"group_name\": 3";
  Result malformed = Ctl({"plan", "--topology=" + garbage});
  CHECK(malformed.exit_code == 1);
  CHECK(malformed.output.find("INVALID_ARGUMENT") != std::string::npos);

  CHECK(Ctl({"frobnicate"}).exit_code == 2);
  CHECK(Ctl({"plan"}).exit_code == 2);
}

TEST_CASE("paramsyncctl drives a live coordinator", "[paramsyncctl]") {
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start(2, MakeWorkDir("ctl"));
  REQUIRE(cluster.ok());
  auto trainer = (*cluster)->Deploy({"trainer", true, 1, 1, 1, {0}, "tiny"});
  auto inference = (*cluster)->Deploy({"vllm", false, 1, 1, 1, {1}, "tiny"});
  REQUIRE(trainer.ok());
  REQUIRE(inference.ok());
  const std::string coordinator = "--coordinator=" + (*cluster)->coordinator_address();
  Result created = Ctl({"create-group", coordinator, "--group=g", "--src=trainer", "--dst=vllm"});
  INFO(created.output);
  REQUIRE(created.exit_code == 0);
  REQUIRE(LocalCluster::CommandAll(*trainer, "fill 1").ok());
  Result synced = Ctl({"sync", coordinator, "--group=g"});
  INFO(synced.output);
  REQUIRE(synced.exit_code == 0);
  CHECK(synced.output.find("version 1") != std::string::npos);
  CHECK(LocalCluster::CommandAll(*inference, "verify 1").ok());
  Result status = Ctl({"status", coordinator});
  INFO(status.output);
  CHECK(status.exit_code == 0);
  CHECK(status.output.find("vllm") != std::string::npos);
  Result missing = Ctl({"sync", coordinator, "--group=nope"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find("NOT_FOUND") != std::string::npos);
}

}  // namespace
}  // namespace paramsync::bench
