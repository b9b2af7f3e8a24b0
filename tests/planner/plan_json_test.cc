// TopologyFromJson's errors name the field and never throw; PlanToJson and
// ErrorToJson write the golden README's format.
#include "coordinator/planner/plan_json.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace paramsync::planner {
namespace {

using Json = nlohmann::json;

Json MinimalTopology() {
  return Json::parse(R"({
    "group_name": "sync", "comm_type": "broadcast",
    "src": {"tp": 1, "dp": 1}, "dst": {"tp": 1},
    "endpoints": [
      {"model": "src", "rank": 0, "replica": 0, "local_rank": 0, "node": 0, "gpu": 0,
       "tp_rank": 0, "pp_rank": 0, "ep_rank": 0, "dp_rank": 0},
      {"model": "dst", "rank": 1, "replica": 0, "local_rank": 0, "node": 0, "gpu": 1,
       "tp_rank": 0, "pp_rank": 0, "ep_rank": 0, "dp_rank": 0}]})");
}

TEST_CASE("TopologyFromJson reads fields and applies defaults", "[planner][json]") {
  const absl::StatusOr<SyncTopology> t = TopologyFromJson(MinimalTopology().dump());
  REQUIRE(t.ok());
  CHECK(t->group_name == "sync");
  CHECK(t->comm_type == CommType::kBroadcast);
  CHECK(t->regroup_comm_type == RegroupCommType::kAllToAll);
  CHECK_FALSE(t->hep);
  CHECK_FALSE(t->colocated);
  CHECK(t->src.engine == "megatron");
  CHECK(t->dst.engine == "vllm");
  CHECK(t->dst.replicas == 1);
  REQUIRE(t->endpoints.size() == 2);
  CHECK(t->endpoints[0].is_src);
  CHECK_FALSE(t->endpoints[1].is_src);
  CHECK(t->endpoints[1].gpu == 1);

  Json no_endpoints = MinimalTopology();
  no_endpoints["endpoints"] = nullptr;
  const absl::StatusOr<SyncTopology> sizes_only = TopologyFromJson(no_endpoints.dump());
  REQUIRE(sizes_only.ok());
  CHECK(sizes_only->endpoints.empty());
}

TEST_CASE("TopologyFromJson names the bad field", "[planner][json]") {
  struct Bad {
    std::string name;
    std::string text;
    std::vector<std::string> message_parts;
  };
  const auto edited = [](const std::function<void(Json&)>& edit) {
    Json j = MinimalTopology();
    edit(j);
    return j.dump();
  };
  const std::vector<Bad> cases = {
      {"not JSON", "{\"group_name\": ", {"not valid JSON"}},
      {"not an object", "[1, 2]", {"topology: expected an object, got array"}},
      {"missing group_name",
       edited([](Json& j) { j.erase("group_name"); }),
       {"group_name is missing"}},
      {"group_name not a string",
       edited([](Json& j) { j["group_name"] = 5; }),
       {"group_name: expected a string, got number 5"}},
      {"unknown comm_type",
       edited([](Json& j) { j["comm_type"] = "nccl"; }),
       {"comm_type is \"nccl\"", "\"broadcast\", \"p2p\""}},
      {"unknown regroup_comm_type",
       edited([](Json& j) { j["regroup_comm_type"] = "broadcast"; }),
       {"regroup_comm_type is \"broadcast\""}},
      {"hep not a bool",
       edited([](Json& j) { j["hep"] = "yes"; }),
       {"hep: expected a boolean, got string \"yes\""}},
      {"src missing", edited([](Json& j) { j.erase("src"); }), {"src is missing"}},
      {"dst not an object",
       edited([](Json& j) { j["dst"] = 4; }),
       {"dst: expected an object, got number 4"}},
      {"tp as a string",
       edited([](Json& j) { j["src"]["tp"] = "2"; }),
       {"src.tp: expected an integer, got string \"2\""}},
      {"tp as a float",
       edited([](Json& j) { j["dst"]["tp"] = 2.5; }),
       {"dst.tp: expected an integer, got number 2.5"}},
      {"tp out of range",
       edited([](Json& j) { j["dst"]["replicas"] = 1e12; }),
       {"dst.replicas: expected an integer"}},
      {"huge integer",
       edited([](Json& j) { j["dst"]["replicas"] = 10000000000LL; }),
       {"dst.replicas is out of range"}},
      {"endpoints not an array",
       edited([](Json& j) { j["endpoints"] = Json::object(); }),
       {"endpoints: expected an array or null, got object"}},
      {"endpoint not an object",
       edited([](Json& j) { j["endpoints"][1] = 3; }),
       {"endpoints[1]: expected an object"}},
      {"endpoint field missing",
       edited([](Json& j) { j["endpoints"][1].erase("gpu"); }),
       {"endpoints[1].gpu is missing"}},
      {"endpoint field wrong type",
       edited([](Json& j) { j["endpoints"][0]["rank"] = true; }),
       {"endpoints[0].rank: expected an integer, got boolean true"}},
      {"endpoint model unknown",
       edited([](Json& j) { j["endpoints"][0]["model"] = "trainer"; }),
       {"endpoints[0].model is \"trainer\"", "\"src\", \"dst\""}},
  };
  for (const Bad& bad : cases) {
    DYNAMIC_SECTION(bad.name) {
      absl::StatusOr<SyncTopology> t;
      REQUIRE_NOTHROW(t = TopologyFromJson(bad.text));
      REQUIRE_FALSE(t.ok());
      CHECK(t.status().code() == absl::StatusCode::kInvalidArgument);
      for (const std::string& part : bad.message_parts) {
        CHECK_THAT(std::string(t.status().message()), Catch::Contains(part));
      }
    }
  }
}

TEST_CASE("PlanToJson writes the expected fields in order", "[planner][json]") {
  SyncPlan plan;
  plan.comm_type = CommType::kP2P;
  plan.regroup_comm_type = RegroupCommType::kAllGather;
  plan.tp_num_mapping = 2;
  plan.src_dp_ranks = {{0}, {1}};
  plan.dst_dp_ranks = {{2, 3}};
  plan.stage1 = {{0, 2}};
  plan.stage2 = {{2, 3}};
  plan.collective_groups = {"g_x"};
  const std::string text = PlanToJson(plan);
  CHECK(text ==
        R"({"comm_type":"p2p","regroup_comm_type":"allgather","tp_num_mapping":2,)"
        R"("src_dp_ranks":[[0],[1]],"dst_dp_ranks":[[2,3]],"stage1":[[0,2]],"stage2":[[2,3]],)"
        R"("routed_experts":[],"regroup_groups":null,"collective_groups":["g_x"],)"
        R"("send_order":null})");

  plan.regroup_groups = {{0, 1}};
  plan.send_order = {1, 0};
  const Json j = Json::parse(PlanToJson(plan));
  CHECK(j["regroup_groups"] == Json::parse("[[0,1]]"));
  CHECK(j["send_order"] == Json::parse("[1,0]"));
}

TEST_CASE("ErrorToJson wraps the status", "[planner][json]") {
  const Json j = Json::parse(ErrorToJson(absl::InvalidArgumentError("dst.tp is 3")));
  CHECK(j == Json::parse(R"({"error":{"code":"INVALID_ARGUMENT","message":"dst.tp is 3"}})"));
  // Invalid UTF-8 in a message is replaced, not thrown.
  CHECK_NOTHROW(ErrorToJson(absl::InvalidArgumentError("bad \xff byte")));
}

}  // namespace
}  // namespace paramsync::planner
