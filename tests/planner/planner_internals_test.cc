// The planner's building blocks, on the situations where they depart from a
// literal port of the seed (send order, stage-2 names) or can fail (the stage-1
// load balancer).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "coordinator/planner/group_names.h"
#include "coordinator/planner/rank_placement.h"
#include "coordinator/planner/replica_groups.h"
#include "coordinator/planner/send_order.h"
#include "coordinator/planner/send_recv_mapping.h"
#include "coordinator/planner/stage1_load_balancer.h"

namespace paramsync::planner {
namespace {

// Ranks 0..n-1 on (node 0, gpus[r]) with data-parallel ranks dp[r].
RankPlacement Placement(const std::vector<int>& gpus, const std::vector<int>& dp) {
  std::vector<EndpointPlacement> endpoints;
  for (size_t r = 0; r < gpus.size(); ++r) {
    EndpointPlacement e;
    e.rank = static_cast<int>(r);
    e.gpu = gpus[r];
    e.dp_rank = dp.empty() ? 0 : dp[r];
    endpoints.push_back(e);
  }
  return RankPlacement(endpoints);
}

SendRecvMapping Mapping(const std::vector<std::pair<int, int>>& pairs) {
  SendRecvMapping mapping;
  for (const auto& [sender, receiver] : pairs) mapping.Add(sender, receiver);
  return mapping;
}

TEST_CASE("SendRecvMapping keeps first-seen order", "[planner][internals]") {
  const SendRecvMapping m = Mapping({{3, 9}, {1, 7}, {3, 8}});
  CHECK(m.senders() == std::vector<int>{3, 1});
  CHECK(m.ReceiversOf(3) == std::vector<int>{9, 8});
  CHECK(m.ReceiversOf(5).empty());
  CHECK(m.Pairs() == std::vector<std::pair<int, int>>{{3, 9}, {3, 8}, {1, 7}});
}

TEST_CASE("Rank groups split like the seed", "[planner][internals]") {
  CHECK(ChunkRanks({0, 1, 2, 3, 4}, 2) == RankGroups{{0, 1}, {2, 3}, {4}});
  CHECK(SplitByStageExpertTensor({0, 1, 2, 3, 4, 5, 6, 7}, 2, 2) ==
        std::vector<RankGroups>{{{0, 1}, {2, 3}}, {{4, 5}, {6, 7}}});
  const RankGroups groups = {{0}, {1}, {2}};
  CHECK(SrcGroupForReplica(groups, 0, false) == RankList{0});
  CHECK(SrcGroupForReplica(groups, 4, false) == RankList{1});
  CHECK(SrcGroupForReplica(groups, 0, true) == RankList{2});
  CHECK(SrcGroupForReplica(groups, 3, true) == RankList{2});

  SyncTopology hep;
  hep.src = ModelParallelism{"megatron", 2, 2, 2, 2, 1};
  hep.dst = ModelParallelism{"vllm", 4, 2, 1, 1, 1};
  const ReplicaGroups g = BuildReplicaGroups(hep);
  CHECK(g.src == RankGroups{{0, 1, 2, 3, 4, 5, 6, 7}});
  CHECK(g.src_except_routed == RankGroups{{0, 1, 4, 5}, {2, 3, 6, 7}});
  CHECK(g.dst == RankGroups{{8, 9, 10, 11, 12, 13, 14, 15}});
}

TEST_CASE("Send order goes round robin over data-parallel ranks", "[planner][internals]") {
  SECTION("as the seed") {
    const RankPlacement placement = Placement({0, 1, 2, 3}, {0, 0, 1, 1});
    CHECK(RoundRobinSendOrder(Mapping({{0, 4}, {1, 5}, {2, 6}, {3, 7}}), placement, 2) ==
          std::vector<int>{0, 2, 1, 3});
  }
  SECTION("dp_rank 0 without senders (the seed raises IndexError)") {
    // Reversed trainer groups: dp ranks 3 and 2 feed the two replicas.
    const RankPlacement placement = Placement({0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 0, 0});
    CHECK(RoundRobinSendOrder(Mapping({{3, 4}, {2, 5}}), placement, 4) == std::vector<int>{2, 3});
  }
  SECTION("uneven senders per dp_rank") {
    const RankPlacement placement = Placement({0, 1, 2, 3, 4, 5}, {0, 1, 0, 1, 0, 1});
    CHECK(RoundRobinSendOrder(Mapping({{0, 2}, {1, 3}, {5, 4}}), placement, 2) ==
          std::vector<int>{0, 1, 5});
  }
}

TEST_CASE("Collective group names", "[planner][internals]") {
  CHECK(SingleStageGroupNames("g", "default", Mapping({{0, 2}, {0, 4}, {1, 3}})) ==
        std::vector<std::string>{"g_default_from_0_to_2_4", "g_default_from_1_to_3"});
  CHECK(AllGatherGroupNames("g", {{0, 1}, {2, 3}}) ==
        std::vector<std::string>{"g_allgather_routed_among_0_1", "g_allgather_routed_among_2_3"});

  SECTION("stage-2 pairs sharing a rank go to later batches") {
    const std::vector<std::string> names = TwoStageGroupNames(
        "g", "default", Mapping({{0, 8}}), Mapping({{8, 9}, {8, 10}, {8, 11}}), 4);
    CHECK(names == std::vector<std::string>{"g_stage1_comm_default_from_0_to_8",
                                            "g_stage2_comm_0_0_0_default_from_8_to_9",
                                            "g_stage2_comm_1_0_0_default_from_8_to_10",
                                            "g_stage2_comm_2_0_0_default_from_8_to_11"});
  }
  SECTION("a batch longer than dst tp names its last partial chunk too") {
    // Three replicas of tp2 from tp1: three disjoint stage-2 pairs, dst tp 2.
    // The seed names (and syncs) only the first chunk of two.
    const std::vector<std::string> names = TwoStageGroupNames(
        "g", "default", Mapping({{0, 2}, {1, 4}, {2, 6}}), Mapping({{2, 3}, {4, 5}, {6, 7}}), 2);
    CHECK(names == std::vector<std::string>{"g_stage1_comm_default_from_0_to_2",
                                            "g_stage1_comm_default_from_1_to_4",
                                            "g_stage1_comm_default_from_2_to_6",
                                            "g_stage2_comm_0_0_0_default_from_2_to_3",
                                            "g_stage2_comm_0_0_1_default_from_4_to_5",
                                            "g_stage2_comm_0_1_0_default_from_6_to_7"});
  }
}

TEST_CASE("Stage-1 load balancer", "[planner][internals]") {
  // Trainer ranks 0, 1; inference block {2, 3}; rank 2 shares rank 0's GPU.
  const RankPlacement placement = Placement({0, 1, 0, 3}, {});
  const std::vector<int> stage = {2, 3};
  SECTION("a colliding sender is placed in the pre-allocation pass") {
    Stage1LoadBalancer balancer(2, placement);
    const absl::StatusOr<std::optional<int>> chosen = balancer.PreAllocate(stage, 0, 0, 0);
    REQUIRE(chosen.ok());
    CHECK(*chosen == std::optional<int>(3));
    // Rank 3 now has one hit, so the next sender gets rank 2.
    const absl::StatusOr<int> next = balancer.Allocate(stage, 0, 0, 1);
    REQUIRE(next.ok());
    CHECK(*next == 2);
  }
  SECTION("a sender without collision waits for the second pass") {
    Stage1LoadBalancer balancer(2, placement);
    const absl::StatusOr<std::optional<int>> chosen = balancer.PreAllocate(stage, 0, 1, 1);
    REQUIRE(chosen.ok());
    CHECK_FALSE(chosen->has_value());
    const absl::StatusOr<int> later = balancer.Allocate(stage, 0, 1, 1);
    REQUIRE(later.ok());
    CHECK(*later == 3);  // start 1 rotates the block: rank 3 first.
  }
  SECTION("no receiver off the sender's GPU") {
    const RankPlacement shared = Placement({0, 0, 0}, {});
    Stage1LoadBalancer balancer(2, shared);
    const absl::Status status = balancer.Allocate({1, 2}, 0, 0, 0).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(status.message()),
               Catch::Contains("trainer rank 0") && Catch::Contains("1, 2"));
  }
}

}  // namespace
}  // namespace paramsync::planner
