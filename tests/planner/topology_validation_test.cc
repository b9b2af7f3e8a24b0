// Hand-made bad topologies: each must be INVALID_ARGUMENT, from
// ValidateTopology() and from BuildSyncPlan(), with a message naming the field
// and the value at fault.
#include "coordinator/planner/topology_validation.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "coordinator/planner/plan_builder.h"

namespace paramsync::planner {
namespace {

// A tp2 dp2 trainer on node 0 feeding two vLLM tp2 replicas on node 1.
SyncTopology ValidTopology() {
  SyncTopology t;
  t.group_name = "sync";
  t.src = ModelParallelism{"megatron", 2, 1, 1, 2, 1};
  t.dst = ModelParallelism{"vllm", 2, 1, 1, 1, 2};
  for (int r = 0; r < 4; ++r) {
    t.endpoints.push_back(EndpointPlacement{true, r, 0, r, 0, r, r % 2, 0, 0, r / 2});
  }
  for (int replica = 0; replica < 2; ++replica) {
    for (int l = 0; l < 2; ++l) {
      const int rank = 4 + replica * 2 + l;
      t.endpoints.push_back(EndpointPlacement{false, rank, replica, l, 1, rank - 4, l, 0, 0, 0});
    }
  }
  return t;
}

struct BadCase {
  std::string name;
  std::function<void(SyncTopology&)> mutate;
  std::vector<std::string> message_parts;  // Field and value, at least.
};

std::vector<BadCase> BadCases() {
  return {
      {"empty group name", [](SyncTopology& t) { t.group_name.clear(); }, {"group_name"}},
      {"unknown comm type",
       [](SyncTopology& t) { t.comm_type = static_cast<CommType>(7); },
       {"comm_type is 7", "broadcast, p2p"}},
      {"unknown regroup comm type",
       [](SyncTopology& t) { t.regroup_comm_type = static_cast<RegroupCommType>(9); },
       {"regroup_comm_type is 9", "alltoall, allgather"}},
      {"src engine",
       [](SyncTopology& t) { t.src.engine = "deepspeed"; },
       {"src.engine", "deepspeed", "megatron"}},
      {"dst engine",
       [](SyncTopology& t) { t.dst.engine = "sglang"; },
       {"dst.engine", "sglang", "vllm"}},
      {"zero src tp", [](SyncTopology& t) { t.src.tp = 0; }, {"src.tp is 0", "accepted: 1 to"}},
      {"negative src pp", [](SyncTopology& t) { t.src.pp = -2; }, {"src.pp is -2"}},
      {"zero src ep", [](SyncTopology& t) { t.src.ep = 0; }, {"src.ep is 0"}},
      {"zero src dp", [](SyncTopology& t) { t.src.dp = 0; }, {"src.dp is 0"}},
      {"zero dst tp", [](SyncTopology& t) { t.dst.tp = 0; }, {"dst.tp is 0"}},
      {"zero dst pp", [](SyncTopology& t) { t.dst.pp = 0; }, {"dst.pp is 0"}},
      {"negative replicas", [](SyncTopology& t) { t.dst.replicas = -1; }, {"dst.replicas is -1"}},
      {"huge size", [](SyncTopology& t) { t.src.dp = 1 << 20; }, {"src.dp is 1048576"}},
      {"too many ranks",
       [](SyncTopology& t) {
         t.src.tp = 4096;
         t.src.dp = 4096;
       },
       {"src (src.tp*src.pp*src.dp) has 16777216 ranks"}},
      {"trainer replicas",
       [](SyncTopology& t) { t.src.replicas = 2; },
       {"src.replicas is 2", "accepted: 1"}},
      {"inference dp", [](SyncTopology& t) { t.dst.dp = 2; }, {"dst.dp is 2", "accepted: 1"}},
      {"dp not a multiple of ep",
       [](SyncTopology& t) { t.src.ep = 4; },
       {"src.dp is 2", "src.ep 4"}},
      {"vllm with ep", [](SyncTopology& t) { t.dst.ep = 2; }, {"dst.ep is 2", "vllm"}},
      {"no endpoints",
       [](SyncTopology& t) { t.endpoints.clear(); },
       {"endpoints is empty", "8 (4 src ranks"}},
      {"endpoint missing",
       [](SyncTopology& t) { t.endpoints.pop_back(); },
       {"endpoints has 7 entries", "accepted: 8"}},
      {"rank out of range",
       [](SyncTopology& t) { t.endpoints[2].rank = 8; },
       {"endpoints[2].rank is 8", "0 to 7"}},
      {"duplicate rank",
       [](SyncTopology& t) { t.endpoints[5].rank = 4; },
       {"endpoints[5].rank is 4", "already used by endpoints[4]"}},
      {"dst rank marked src",
       [](SyncTopology& t) { t.endpoints[6].is_src = true; },
       {"endpoints[6].model is src", "dst for ranks 4 to 7"}},
      {"negative gpu",
       [](SyncTopology& t) { t.endpoints[1].gpu = -1; },
       {"endpoints[1]", "gpu -1"}},
      {"trainer tp_rank",
       [](SyncTopology& t) { t.endpoints[1].tp_rank = 0; },
       {"endpoints[1].tp_rank is 0", "accepted: 1", "rank % src.tp"}},
      {"trainer dp_rank",
       [](SyncTopology& t) { t.endpoints[2].dp_rank = 0; },
       {"endpoints[2].dp_rank is 0", "accepted: 1"}},
      {"trainer pp_rank",
       [](SyncTopology& t) { t.endpoints[3].pp_rank = 1; },
       {"endpoints[3].pp_rank is 1", "accepted: 0"}},
      {"trainer ep_rank",
       [](SyncTopology& t) { t.endpoints[3].ep_rank = 1; },
       {"endpoints[3].ep_rank is 1", "dp_rank % src.ep"}},
      {"trainer replica",
       [](SyncTopology& t) { t.endpoints[0].replica = 1; },
       {"endpoints[0].replica is 1", "accepted: 0"}},
      {"trainer local_rank",
       [](SyncTopology& t) { t.endpoints[3].local_rank = 0; },
       {"endpoints[3].local_rank is 0", "accepted: 3"}},
      {"inference replica out of range",
       [](SyncTopology& t) { t.endpoints[7].replica = 2; },
       {"endpoints[7].replica is 2", "0 to 1"}},
      {"inference local_rank",
       [](SyncTopology& t) { t.endpoints[7].local_rank = 0; },
       {"endpoints[7].local_rank is 0", "accepted: 1"}},
      {"inference tp_rank",
       [](SyncTopology& t) { t.endpoints[5].tp_rank = 0; },
       {"endpoints[5].tp_rank is 0", "local_rank % dst.tp"}},
      {"inference pp_rank",
       [](SyncTopology& t) { t.endpoints[5].pp_rank = 1; },
       {"endpoints[5].pp_rank is 1", "local_rank / dst.tp"}},
      {"vllm dp_rank",
       [](SyncTopology& t) { t.endpoints[5].dp_rank = 1; },
       {"endpoints[5].dp_rank is 1", "accepted: 0"}},
      {"vllm ep_rank",
       [](SyncTopology& t) { t.endpoints[5].ep_rank = 1; },
       {"endpoints[5].ep_rank is 1", "accepted: 0"}},
  };
}

TEST_CASE("The valid base topology plans", "[planner][validation]") {
  const SyncTopology topology = ValidTopology();
  CHECK(ValidateTopology(topology).ok());
  const absl::StatusOr<SyncPlan> plan = BuildSyncPlan(topology);
  REQUIRE(plan.ok());
  CHECK(plan->stage1 == std::vector<std::pair<int, int>>{{0, 4}, {1, 5}, {2, 6}, {3, 7}});
}

TEST_CASE("Bad topologies are INVALID_ARGUMENT naming the field", "[planner][validation]") {
  for (const BadCase& bad : BadCases()) {
    DYNAMIC_SECTION(bad.name) {
      SyncTopology topology = ValidTopology();
      bad.mutate(topology);
      const absl::Status status = ValidateTopology(topology);
      CHECK(status.code() == absl::StatusCode::kInvalidArgument);
      for (const std::string& part : bad.message_parts) {
        CHECK_THAT(std::string(status.message()), Catch::Contains(part));
      }
      const absl::StatusOr<SyncPlan> plan = BuildSyncPlan(topology);
      REQUIRE_FALSE(plan.ok());
      CHECK(plan.status() == status);
    }
  }
}

TEST_CASE("Megatron inference endpoints follow Megatron's layout", "[planner][validation]") {
  // tp1 ep2 trainer (dp2) -> one Megatron replica of tp1 ep2, as in golden 066.
  SyncTopology t;
  t.group_name = "sync";
  t.hep = true;
  t.src = ModelParallelism{"megatron", 1, 1, 2, 2, 1};
  t.dst = ModelParallelism{"megatron", 1, 1, 2, 1, 1};
  t.endpoints = {EndpointPlacement{true, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                 EndpointPlacement{true, 1, 0, 1, 0, 1, 0, 0, 1, 1},
                 EndpointPlacement{false, 2, 0, 0, 1, 0, 0, 0, 0, 0},
                 EndpointPlacement{false, 3, 0, 1, 1, 1, 0, 0, 1, 1}};
  CHECK(ValidateTopology(t).ok());
  t.endpoints[3].dp_rank = 0;
  const absl::Status status = ValidateTopology(t);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()),
             Catch::Contains("endpoints[3].dp_rank is 0") && Catch::Contains("dst.ep"));
}

TEST_CASE("Comm type names parse or name the field", "[planner][validation]") {
  CHECK(*ParseCommType("broadcast") == CommType::kBroadcast);
  CHECK(*ParseCommType("p2p") == CommType::kP2P);
  CHECK(*ParseRegroupCommType("alltoall") == RegroupCommType::kAllToAll);
  CHECK(*ParseRegroupCommType("allgather") == RegroupCommType::kAllGather);

  const absl::Status comm = ParseCommType("nccl").status();
  CHECK(comm.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(comm.message()),
             Catch::Contains("comm_type is \"nccl\"") && Catch::Contains("\"broadcast\", \"p2p\""));
  const absl::Status regroup = ParseRegroupCommType("broadcast").status();
  CHECK(regroup.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(regroup.message()),
             Catch::Contains("regroup_comm_type is \"broadcast\"") &&
                 Catch::Contains("\"alltoall\", \"allgather\""));
  CHECK(CommTypeName(static_cast<CommType>(5)) == "unknown");
}

}  // namespace
}  // namespace paramsync::planner
