// Runs every golden case (tests/planner/golden/*.json, copied from
// shared/golden/cases: ChatLearn's own plans) through TopologyFromJson,
// BuildSyncPlan and PlanToJson. Plan cases must match `expected` field by field
// (pairs as sets, collective groups sorted, send_order where the seed computes
// one); reject cases must be INVALID_ARGUMENT; seed_bug cases must be either
// INVALID_ARGUMENT or a plan in which every inference rank receives. Every plan
// must also pass VerifySyncPlan.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "coordinator/planner/plan_builder.h"
#include "coordinator/planner/plan_json.h"
#include "coordinator/planner/plan_verifier.h"

namespace paramsync::planner {
namespace {

using Json = nlohmann::json;

// Relative to the runfiles root, which is the working directory of Bazel tests
// (and the repository root when run by hand).
constexpr char kGoldenDir[] = "tests/planner/golden";

std::vector<std::filesystem::path> GoldenFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(kGoldenDir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

absl::StatusOr<SyncPlan> PlanFor(const Json& topology) {
  absl::StatusOr<SyncTopology> parsed = TopologyFromJson(topology.dump());
  if (!parsed.ok()) return parsed.status();
  return BuildSyncPlan(*parsed);
}

// A field of `expected` (or of PlanToJson's output) in a form that compares as
// the golden README says: pairs and group names as sets, null as empty.
std::string Normalized(const std::string& field, Json value) {
  if (value.is_null()) value = Json::array();
  if (field == "stage1" || field == "stage2" || field == "routed_experts" ||
      field == "collective_groups") {
    std::sort(value.begin(), value.end());
  }
  return value.dump();
}

void CheckPlanMatches(const Json& expected, const SyncPlan& plan) {
  const Json actual = Json::parse(PlanToJson(plan));
  for (const char* field :
       {"comm_type", "regroup_comm_type", "tp_num_mapping", "src_dp_ranks", "dst_dp_ranks",
        "stage1", "stage2", "routed_experts", "regroup_groups", "collective_groups"}) {
    INFO("field " << field);
    REQUIRE(actual.contains(field));
    CHECK(Normalized(field, actual[field]) == Normalized(field, expected.at(field)));
  }
  CHECK(std::is_sorted(plan.collective_groups.begin(), plan.collective_groups.end()));
  const Json& send_order = expected.at("send_order");
  if (!send_order.is_null() && !send_order.empty()) {
    CHECK(actual["send_order"].dump() == send_order.dump());
  }
}

void CheckEveryDstRankReceives(const Json& topology, const SyncPlan& plan) {
  std::set<int> receivers;
  for (const auto* pairs : {&plan.stage1, &plan.stage2}) {
    for (const auto& [sender, receiver] : *pairs) receivers.insert(receiver);
  }
  for (const Json& endpoint : topology.at("endpoints")) {
    if (endpoint.at("model") != "dst") continue;
    const int rank = endpoint.at("rank").get<int>();
    INFO("dst rank " << rank);
    CHECK(receivers.count(rank) == 1);
  }
}

void CheckVerifies(const Json& topology, const SyncPlan& plan) {
  const absl::StatusOr<SyncTopology> parsed = TopologyFromJson(topology.dump());
  REQUIRE(parsed.ok());
  const absl::Status verified = VerifySyncPlan(*parsed, plan);
  INFO(verified.ToString());
  CHECK(verified.ok());
}

TEST_CASE("Golden cases reproduce ChatLearn's plans", "[planner][golden]") {
  const std::vector<std::filesystem::path> files = GoldenFiles();
  REQUIRE(files.size() >= 41);
  for (const std::filesystem::path& file : files) {
    const Json golden = ReadJson(file);
    const std::string kind = golden.at("kind").get<std::string>();
    DYNAMIC_SECTION(file.stem().string()
                    << " [" << kind << "] " << golden.value("title", std::string())) {
      const Json& expected = golden.at("expected");
      const absl::StatusOr<SyncPlan> plan = PlanFor(golden.at("topology"));
      if (kind == "plan") {
        INFO((plan.ok() ? std::string("planned") : ErrorToJson(plan.status())));
        REQUIRE(plan.ok());
        CheckPlanMatches(expected, *plan);
        CheckVerifies(golden.at("topology"), *plan);
      } else if (kind == "reject") {
        INFO("seed: " << expected.value("seed_message", std::string()));
        REQUIRE_FALSE(plan.ok());
        CHECK(plan.status().code() == absl::StatusCode::kInvalidArgument);
        CHECK_FALSE(plan.status().message().empty());
      } else {
        REQUIRE(kind == "seed_bug");
        INFO("note: " << expected.value("note", std::string()));
        if (plan.ok()) {
          CheckEveryDstRankReceives(golden.at("topology"), *plan);
          CheckVerifies(golden.at("topology"), *plan);
        } else {
          CHECK(plan.status().code() == absl::StatusCode::kInvalidArgument);
          CHECK_FALSE(plan.status().message().empty());
        }
      }
    }
  }
}

TEST_CASE("Plans are deterministic", "[planner][golden]") {
  for (const std::filesystem::path& file : GoldenFiles()) {
    const Json golden = ReadJson(file);
    const absl::StatusOr<SyncPlan> first = PlanFor(golden.at("topology"));
    const absl::StatusOr<SyncPlan> second = PlanFor(golden.at("topology"));
    INFO(file.string());
    REQUIRE(first.ok() == second.ok());
    if (first.ok()) CHECK(PlanToJson(*first) == PlanToJson(*second));
  }
}

}  // namespace
}  // namespace paramsync::planner
