// paramsyncctl as a user runs it, the real binary in its own process: offline
// planning from golden topologies, and every command against a live local
// cluster (coordinator, agents and framework processes as separate processes),
// checking tables, JSON that parses, progress lines and exit codes.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/child_process.h"
#include "bench/local_cluster.h"
#include "tests/integration/cluster_helpers.h"

namespace paramsync::bench {
namespace {

struct Result {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr

  std::vector<std::string> Lines() const { return absl::StrSplit(out, '\n', absl::SkipEmpty()); }
  // Each line of stdout as JSON (fails the test if one does not parse).
  std::vector<nlohmann::json> JsonLines() const {
    std::vector<nlohmann::json> parsed;
    for (const std::string& line : Lines()) {
      INFO(line);
      REQUIRE(nlohmann::json::accept(line));
      parsed.push_back(nlohmann::json::parse(line));
    }
    return parsed;
  }
  nlohmann::json Json() const {
    std::vector<nlohmann::json> lines = JsonLines();
    REQUIRE(lines.size() == 1);
    return lines[0];
  }
};

// Runs client/ctl/paramsyncctl with `args`; stdout comes through a pipe (not a
// terminal, so `sync` prints plain progress lines), stderr through a file.
Result Ctl(const std::vector<std::string>& args) {
  static int runs = 0;
  const std::string err_path = absl::StrCat(MakeWorkDir("ctl"), "/err", runs++, ".log");
  std::vector<std::string> argv = {"client/ctl/paramsyncctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Spawn(argv, err_path, true);
  REQUIRE(process.ok());
  Result result;
  while (true) {
    absl::StatusOr<std::string> line = (*process)->ReadLine(absl::Seconds(60));
    if (!line.ok()) break;  // Closed: the process is done.
    absl::StrAppend(&result.out, *line, "\n");
  }
  const int status = (*process)->Wait(absl::Seconds(30));
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_path);
  std::stringstream text;
  text << in.rdbuf();
  result.err = text.str();
  return result;
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

// proto3 JSON prints 64-bit integers as strings.
int64_t Int64(const nlohmann::json& value) { return std::stoll(value.get<std::string>()); }

TEST_CASE("paramsyncctl plan prints the golden plan of a topology", "[paramsyncctl]") {
  const nlohmann::json golden = ReadCase("028");
  const std::string topology = WriteTopology(golden["topology"]);
  Result r = Ctl({"plan", "--topology=" + topology, "--output=json"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json plan = r.Json();
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

  Result table = Ctl({"plan", "--topology=" + topology});
  INFO(table.out << table.err);
  REQUIRE(table.exit_code == 0);
  CHECK(absl::StrContains(table.out, "stage 1"));
  for (const auto& name : expected["collective_groups"]) {
    CHECK(absl::StrContains(table.out, name.get<std::string>()));
  }
}

TEST_CASE("paramsyncctl plan refuses bad topologies and bad command lines", "[paramsyncctl]") {
  Result rejected =
      Ctl({"plan", "--topology=" + WriteTopology(ReadCase("072")["topology"]), "--output=json"});
  INFO(rejected.out << rejected.err);
  CHECK(rejected.exit_code == 1);
  const nlohmann::json error = rejected.Json()["error"];
  CHECK(error["code"] == "INVALID_ARGUMENT");
  CHECK(error["message"].get<std::string>().find("tp") != std::string::npos);

  const std::string garbage = absl::StrCat(MakeWorkDir("garbage"), "/t.json");
  std::ofstream(garbage) << "{\"group_name\": 3";
  Result malformed = Ctl({"plan", "--topology=" + garbage});
  CHECK(malformed.exit_code == 1);
  CHECK(absl::StrContains(malformed.err, "INVALID_ARGUMENT"));

  Result missing = Ctl({"plan", "--topology=/nonexistent/topology.json"});
  CHECK(missing.exit_code == 5);
  CHECK(absl::StrContains(missing.err, "/nonexistent/topology.json"));

  CHECK(Ctl({"frobnicate"}).exit_code == 2);
  CHECK(Ctl({"plan"}).exit_code == 2);
  Result bad_flag = Ctl({"status", "--no_such_flag=1"});
  CHECK(bad_flag.exit_code == 2);
  CHECK(absl::StrContains(bad_flag.err, "unknown flag --no_such_flag=1"));
  CHECK(Ctl({"status", "--timeout_s=soon"}).exit_code == 2);
  CHECK(Ctl({"status", "--output=yaml"}).exit_code == 2);
  Result help = Ctl({"--help"});
  CHECK(help.exit_code == 0);
  CHECK(absl::StrContains(help.out, "exit codes:"));
}

TEST_CASE("paramsyncctl exits 3 when the coordinator is unreachable", "[paramsyncctl]") {
  // A port nothing listens on: the coordinator's, after it stopped.
  std::string address;
  {
    std::unique_ptr<LocalCluster> cluster = StartCluster(0, "ctl-gone");
    address = cluster->coordinator_address();
  }
  for (const char* command : {"status", "groups", "sync", "watch"}) {
    Result r = Ctl({command, "--coordinator=" + address, "--group=g", "--output=json"});
    INFO(command << ": " << r.out << r.err);
    CHECK(r.exit_code == 3);
    CHECK(r.Json()["error"]["code"] == "UNAVAILABLE");
  }
}

TEST_CASE("paramsyncctl drives a live coordinator", "[paramsyncctl]") {
  std::unique_ptr<LocalCluster> cluster = StartCluster(2, "ctl");
  std::vector<ChildProcess*> trainer =
      DeployOrDie(*cluster, {"trainer", true, 1, 1, 1, {0}, "tiny"});
  std::vector<ChildProcess*> inference =
      DeployOrDie(*cluster, {"vllm", false, 1, 1, 1, {1}, "tiny"});
  const std::string coordinator = "--coordinator=" + cluster->coordinator_address();
  const int64_t bytes = ModelBytes("tiny");

  Result created = Ctl({"create-group", coordinator, "--group=g", "--src=trainer", "--dst=vllm"});
  INFO(created.out << created.err);
  REQUIRE(created.exit_code == 0);
  CHECK(absl::StrContains(created.out, "created sync group g: trainer -> vllm"));
  CHECK(Ctl({"create-group", coordinator, "--group=h", "--src=trainer"}).exit_code == 2);
  CHECK(Ctl({"create-group", coordinator, "--group=h", "--src=trainer", "--dst=vllm",
             "--comm_type=smoke"})
            .exit_code == 2);

  // status: a table for people, JSON for scripts.
  Result status = Ctl({"status", coordinator});
  INFO(status.out << status.err);
  REQUIRE(status.exit_code == 0);
  CHECK(absl::StrContains(status.out, "HEARTBEAT"));
  CHECK(absl::StrContains(status.out, "trainer:0"));
  CHECK(absl::StrContains(status.out, "vllm:0"));
  CHECK(absl::StrContains(status.out, cluster->agent_address(0)));
  CHECK(absl::StrContains(status.out, " ago"));
  Result status_json = Ctl({"status", coordinator, "--output=json"});
  INFO(status_json.out << status_json.err);
  REQUIRE(status_json.exit_code == 0);
  const nlohmann::json state = status_json.Json();
  REQUIRE(state["agents"]["agents"].size() == 2);
  CHECK(Int64(state["agents"]["lease_ms"]) > 0);
  for (const auto& agent : state["agents"]["agents"]) {
    CHECK(Int64(agent["heartbeat_age_ms"]) < Int64(state["agents"]["lease_ms"]));
  }
  REQUIRE(state["endpoints"]["endpoints"].size() == 2);
  for (const auto& endpoint : state["endpoints"]["endpoints"]) {
    CHECK(Int64(endpoint["version"]) == 0);
  }

  // sync, not on a terminal: one plain line per progress event, then the report.
  REQUIRE(LocalCluster::CommandAll(trainer, "fill 1").ok());
  Result synced = Ctl({"sync", coordinator, "--group=g"});
  INFO(synced.out << synced.err);
  REQUIRE(synced.exit_code == 0);
  CHECK(LocalCluster::CommandAll(inference, "verify 1").ok());
  const std::vector<std::string> lines = synced.Lines();
  REQUIRE(lines.size() >= 4);
  CHECK(absl::StrContains(lines[0], "] planning"));
  CHECK(absl::StrContains(synced.out, "] transferring: 0/2 agents"));
  CHECK(absl::StrContains(synced.out, "] transferring: 2/2 agents"));
  CHECK(absl::StrContains(synced.out, "(100%)"));
  CHECK(absl::StrContains(synced.out, "] done: version 1"));
  CHECK(absl::StrContains(synced.out, "group g: version 1"));

  // sync --output=json: one event per line; the last carries the report.
  REQUIRE(LocalCluster::CommandAll(trainer, "fill 2").ok());
  Result synced_json = Ctl({"sync", coordinator, "--group=g", "--output=json"});
  INFO(synced_json.out << synced_json.err);
  REQUIRE(synced_json.exit_code == 0);
  CHECK(LocalCluster::CommandAll(inference, "verify 2").ok());
  const std::vector<nlohmann::json> events = synced_json.JsonLines();
  REQUIRE(events.size() >= 3);
  CHECK(events.front()["phase"] == "SYNC_PHASE_PLANNING");
  CHECK(events.front()["group"] == "g");
  const nlohmann::json& done = events.back();
  CHECK(done["phase"] == "SYNC_PHASE_DONE");
  CHECK(Int64(done["report"]["version"]) == 2);
  CHECK(Int64(done["report"]["bytes"]) == bytes);
  CHECK(Int64(done["bytes_done"]) == bytes);
  CHECK(Int64(done["bytes_total"]) == bytes);
  double elapsed = 0;
  for (const nlohmann::json& event : events) {
    CHECK(event["elapsed_ms"].get<double>() >= elapsed);
    elapsed = event["elapsed_ms"].get<double>();
  }

  // groups and the live plan.
  Result groups = Ctl({"groups", coordinator});
  INFO(groups.out << groups.err);
  REQUIRE(groups.exit_code == 0);
  REQUIRE(groups.Lines().size() == 2);
  for (const char* cell :
       {"GROUP", "LAST SYNC", "g", "trainer", "vllm", "broadcast", "dense", " ago", "ok"}) {
    CHECK(absl::StrContains(groups.out, cell));
  }
  Result groups_json = Ctl({"groups", coordinator, "--output=json"});
  REQUIRE(groups_json.exit_code == 0);
  const nlohmann::json listed = groups_json.Json()["groups"];
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["spec"]["name"] == "g");
  CHECK(Int64(listed[0]["version"]) == 2);
  CHECK(listed[0]["last_sync_code"] == 0);
  CHECK(Int64(listed[0]["last_report"]["bytes"]) == bytes);
  Result plan = Ctl({"plan", coordinator, "--group=g", "--output=json"});
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  REQUIRE(plan.Json()["stage1"].size() == 1);
  Result plan_table = Ctl({"plan", coordinator, "--group=g"});
  CHECK(plan_table.exit_code == 0);
  CHECK(absl::StrContains(plan_table.out, "0->1"));

  // sync --validate: the digests are compared before the commit.
  REQUIRE(LocalCluster::CommandAll(trainer, "fill 3").ok());
  Result validated = Ctl({"sync", coordinator, "--group=g", "--validate"});
  INFO(validated.out << validated.err);
  REQUIRE(validated.exit_code == 0);
  CHECK(absl::StrContains(validated.out, "] validating"));
  CHECK(absl::StrContains(validated.out, "validated: every tensor matches its source"));
  CHECK(LocalCluster::CommandAll(inference, "verify 3").ok());

  // Exit codes: an unknown group or model is 5; a sync the coordinator ran that
  // failed is 4.
  Result unknown = Ctl({"sync", coordinator, "--group=nope", "--output=json"});
  INFO(unknown.out << unknown.err);
  CHECK(unknown.exit_code == 5);
  CHECK(unknown.Json()["error"]["code"] == "NOT_FOUND");
  CHECK(Ctl({"plan", coordinator, "--group=nope"}).exit_code == 5);
  REQUIRE(Ctl({"create-group", coordinator, "--group=ghost", "--src=trainer", "--dst=nobody"})
              .exit_code == 0);
  Result ghost = Ctl({"sync", coordinator, "--group=ghost"});
  INFO(ghost.out << ghost.err);
  CHECK(ghost.exit_code == 5);
  CHECK(absl::StrContains(ghost.err, "nobody"));
  ModelDeployment misshapen{"misshapen", false, 1, 1, 1, {1}, "tiny"};
  misshapen.mismatch = "shape";
  DeployOrDie(*cluster, misshapen);
  REQUIRE(Ctl({"create-group", coordinator, "--group=broken", "--src=trainer", "--dst=misshapen"})
              .exit_code == 0);
  Result failed = Ctl({"sync", coordinator, "--group=broken"});
  INFO(failed.out << failed.err);
  CHECK(failed.exit_code == 4);
  CHECK(absl::StrContains(failed.out, "] planning"));
  CHECK(absl::StrContains(failed.err, "FAILED_PRECONDITION"));
  Result after = Ctl({"groups", coordinator});
  INFO(after.out);
  CHECK(absl::StrContains(after.out, "last sync failed:"));
  CHECK(absl::StrContains(after.out, "broken: "));
  CHECK(absl::StrContains(after.out, "FAILED_PRECONDITION"));

  // watch: the failures are on the error channel; --since replays them.
  Result watched = Ctl({"watch", coordinator, "--since=5m", "--duration=1s", "--output=json"});
  INFO(watched.out << watched.err);
  CHECK(watched.exit_code == 0);
  std::set<std::string> groups_seen;
  for (const nlohmann::json& event : watched.JsonLines()) {
    groups_seen.insert(event["group"].get<std::string>());
  }
  CHECK(groups_seen.count("ghost") == 1);
  CHECK(groups_seen.count("broken") == 1);
  Result watched_table = Ctl({"watch", coordinator, "--since=5m", "--duration=500ms"});
  CHECK(watched_table.exit_code == 0);
  CHECK(absl::StrContains(watched_table.out, "group=broken"));

  // Following: one-second streams, one after another; an event published
  // while it follows shows once, though the next stream replays it.
  std::thread fail_again([&] {
    absl::SleepFor(absl::Milliseconds(1300));
    Ctl({"sync", coordinator, "--group=broken"});
  });
  Result followed =
      Ctl({"watch", coordinator, "--timeout_s=1", "--duration=3500ms", "--output=json"});
  fail_again.join();
  INFO(followed.out << followed.err);
  CHECK(followed.exit_code == 0);
  int broken = 0;
  for (const nlohmann::json& event : followed.JsonLines()) broken += event["group"] == "broken";
  CHECK(broken == 1);
}

TEST_CASE("paramsyncctl creates a direct group and shows what each pair of ranks moves",
          "[paramsyncctl]") {
  // TP2 -> TP1: the inference rank takes one half of every split tensor from each trainer rank.
  std::unique_ptr<LocalCluster> cluster = StartCluster(3, "ctl-direct");
  std::vector<ChildProcess*> trainer =
      DeployOrDie(*cluster, {"trainer", true, 2, 1, 1, {0, 1}, "tiny"});
  std::vector<ChildProcess*> inference =
      DeployOrDie(*cluster, {"vllm", false, 1, 1, 1, {2}, "tiny"});
  const std::string coordinator = "--coordinator=" + cluster->coordinator_address();
  CHECK(Ctl({"create-group", coordinator, "--group=d", "--src=trainer", "--dst=vllm",
             "--strategy=ring"})
            .exit_code == 2);
  Result created = Ctl({"create-group", coordinator, "--group=d", "--src=trainer", "--dst=vllm",
                        "--strategy=direct"});
  INFO(created.out << created.err);
  REQUIRE(created.exit_code == 0);
  CHECK(absl::StrContains(created.out, "(broadcast, direct, dense)"));
  Result plan = Ctl({"plan", coordinator, "--group=d"});
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  for (const char* cell : {"strategy", "direct", "wire bytes", "0->2: ", "1->2: ", "d_direct_0"}) {
    CHECK(absl::StrContains(plan.out, cell));
  }
  Result plan_json = Ctl({"plan", coordinator, "--group=d", "--output=json"});
  REQUIRE(plan_json.exit_code == 0);
  CHECK(plan_json.Json()["strategy"] == "SYNC_STRATEGY_KIND_DIRECT");
  CHECK(Int64(plan_json.Json()["wire_bytes"]) == ModelBytes("tiny"));
  REQUIRE(LocalCluster::CommandAll(trainer, "fill 1").ok());
  Result synced = Ctl({"sync", coordinator, "--group=d"});
  INFO(synced.out << synced.err);
  REQUIRE(synced.exit_code == 0);
  CHECK(LocalCluster::CommandAll(inference, "verify 1").ok());
  Result groups = Ctl({"groups", coordinator});
  CHECK(absl::StrContains(groups.out, "direct, dense"));
}

TEST_CASE("paramsyncctl create-group takes a LoRA mode", "[paramsyncctl]") {
  std::unique_ptr<LocalCluster> cluster = StartCluster(0, "ctl-lora");
  const std::string coordinator = "--coordinator=" + cluster->coordinator_address();
  Result refused = Ctl({"create-group", coordinator, "--group=l", "--src=trainer", "--dst=vllm",
                        "--lora_mode=fused"});
  INFO(refused.out << refused.err);
  CHECK(refused.exit_code == 2);
  CHECK(absl::StrContains(refused.err, "--lora_mode is 'fused'; accepted: merge, adapters_only"));

  Result adapters = Ctl({"create-group", coordinator, "--group=l", "--src=trainer", "--dst=vllm",
                         "--lora_mode=adapters_only", "--output=json"});
  INFO(adapters.out << adapters.err);
  REQUIRE(adapters.exit_code == 0);
  CHECK(adapters.Json()["lora_mode"] == "LORA_MODE_ADAPTERS_ONLY");
  // Merge is the default: left unset, so the spec equals one made without the flag.
  Result merged = Ctl({"create-group", coordinator, "--group=m", "--src=trainer", "--dst=vllm",
                       "--lora_mode=merge", "--output=json"});
  INFO(merged.out << merged.err);
  REQUIRE(merged.exit_code == 0);
  CHECK(merged.Json()["lora_mode"] == "LORA_MODE_UNSPECIFIED");
  CHECK(Ctl({"create-group", coordinator, "--group=m", "--src=trainer", "--dst=vllm"}).exit_code ==
        0);

  Result groups = Ctl({"groups", coordinator});
  INFO(groups.out << groups.err);
  REQUIRE(groups.exit_code == 0);
  std::vector<std::string> rows = groups.Lines();
  REQUIRE(rows.size() == 3);
  CHECK(absl::StrContains(rows[1], "lora adapters-only"));
  CHECK_FALSE(absl::StrContains(rows[2], "lora"));
}

}  // namespace
}  // namespace paramsync::bench
