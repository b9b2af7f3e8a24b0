// VerifySyncPlan: every plan the planner makes for the golden cases (ChatLearn's
// own plans, and the seed_bug cases it plans) verifies; hand-broken plans are
// refused with FAILED_PRECONDITION naming the offending rank or group. Also
// checks the shape of SyncPlan::transfers.
#include "coordinator/planner/plan_verifier.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/planner/plan_builder.h"
#include "coordinator/planner/plan_json.h"
#include "tests/planner/plan_mutations.h"

namespace paramsync::planner {
namespace {

using Json = nlohmann::json;
using testing::DeriveFieldsFromTransfers;
using testing::MentionsNumber;

// Relative to the runfiles root (Bazel) or the repository root (by hand).
constexpr char kGoldenDir[] = "tests/planner/golden";

Json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

struct Planned {
  SyncTopology topology;
  SyncPlan plan;
};

// The topology and plan of golden case `id` (which must be planned).
Planned Golden(const std::string& id) {
  const Json golden = ReadJson(std::filesystem::path(kGoldenDir) / (id + ".json"));
  absl::StatusOr<SyncTopology> topology = TopologyFromJson(golden.at("topology").dump());
  REQUIRE(topology.ok());
  absl::StatusOr<SyncPlan> plan = BuildSyncPlan(*topology);
  REQUIRE(plan.ok());
  REQUIRE(VerifySyncPlan(*topology, *plan).ok());
  return {*std::move(topology), *std::move(plan)};
}

PlannedTransfer& TransferFrom(SyncPlan& plan, int stage, int root) {
  auto it =
      std::find_if(plan.transfers.begin(), plan.transfers.end(),
                   [&](const PlannedTransfer& t) { return t.stage == stage && t.root == root; });
  REQUIRE(it != plan.transfers.end());
  return *it;
}

// The name a broadcast transfer of these members gets, keeping its prefix.
void Rename(PlannedTransfer& t, const std::string& prefix) {
  std::string receivers;
  for (int r : t.receivers) absl::StrAppend(&receivers, receivers.empty() ? "" : "_", r);
  t.group_name = absl::StrCat(prefix, "_", t.param_group, "_from_", t.root, "_to_", receivers);
}

// Refused with FAILED_PRECONDITION, mentioning every one of `ranks` and `texts`.
void CheckRefused(const SyncTopology& topology, const SyncPlan& plan, std::vector<int> ranks,
                  std::vector<std::string> texts = {}) {
  const absl::Status status = VerifySyncPlan(topology, plan);
  INFO(status.ToString());
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
  for (int rank : ranks) {
    INFO("rank " << rank);
    CHECK(MentionsNumber(status.message(), rank));
  }
  for (const std::string& text : texts) {
    INFO("text " << text);
    CHECK(absl::StrContains(status.message(), text));
  }
}

TEST_CASE("Every golden plan verifies and lists its transfers", "[planner][verifier]") {
  int verified = 0;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(kGoldenDir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 41);
  for (const std::filesystem::path& file : files) {
    const Json golden = ReadJson(file);
    const std::string kind = golden.at("kind").get<std::string>();
    if (kind != "plan" && kind != "seed_bug") continue;
    absl::StatusOr<SyncTopology> topology = TopologyFromJson(golden.at("topology").dump());
    if (!topology.ok()) continue;
    const absl::StatusOr<SyncPlan> plan = BuildSyncPlan(*topology);
    if (kind == "plan") REQUIRE(plan.ok());
    if (!plan.ok()) continue;
    {
      INFO(file.stem().string() << " [" << kind << "]");
      const absl::Status status = VerifySyncPlan(*topology, *plan);
      INFO(status.ToString());
      CHECK(status.ok());

      // Transfers carry exactly the pairs of the plan.
      size_t pairs = 0;
      std::set<std::string> names;
      for (const PlannedTransfer& t : plan->transfers) {
        pairs += t.receivers.size();
        CHECK((t.stage == 1 || t.stage == 2));
        if (t.stage == 2) CHECK(t.receivers.size() == 1);
        if (plan->comm_type == CommType::kP2P) {
          CHECK(t.receivers.size() == 1);
          CHECK(t.group_name == topology->group_name);
        } else {
          names.insert(t.group_name);
        }
      }
      CHECK(pairs == plan->stage1.size() + plan->stage2.size() + plan->routed_experts.size());
      // Broadcast groups are exactly the collective groups other than all-gather ones.
      std::set<std::string> expected;
      for (const std::string& name : plan->collective_groups) {
        if (!absl::StrContains(name, "_allgather_routed_among_")) expected.insert(name);
      }
      CHECK(names == expected);
      ++verified;
    }
  }
  CHECK(verified >= 32);
}

TEST_CASE("Broken plans are refused, naming the offending rank", "[planner][verifier]") {
  SECTION("a dropped stage-1 pair leaves its receiver short") {
    Planned p = Golden("006");  // tp2 -> tp2, separate GPUs: 0->4, 1->5, 2->6, 3->7.
    p.plan.transfers.erase(p.plan.transfers.begin() + 1);
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {5}, {"would not receive \"default\""});
  }
  SECTION("a dropped stage-1 pair of a pipeline merge (src pp4 -> dst pp1)") {
    Planned p = Golden("036");  // Rank 8 gets src stage 1 from 2 and stage 2 from 4.
    PlannedTransfer& t = TransferFrom(p.plan, 1, 2);
    t.receivers = {12};
    Rename(t, "ppo_policy2policy_stage1_comm");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    // 8 lacks stage 1, and so does 9, to which 8 relays in stage 2.
    CheckRefused(p.topology, p.plan, {8, 9}, {"src pipeline stage 1"});
  }
  SECTION("a dropped stage-1 pair starves a stage-2 root") {
    Planned p = Golden("028");  // 1->11 in stage 1, 11->10 in stage 2.
    p.plan.transfers.erase(p.plan.transfers.begin());
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {11}, {"stage 2 relays stage 1"});
  }
  SECTION("a receiver duplicated from another sender of the same src stage") {
    Planned p = Golden("006");
    PlannedTransfer& t = TransferFrom(p.plan, 1, 2);
    t.receivers.push_back(4);  // 4 already gets stage 0 from 0.
    Rename(t, "ppo_policy2policy");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {4}, {"twice"});
  }
  SECTION("a receiver listed twice in one transfer") {
    Planned p = Golden("010");
    PlannedTransfer& t = TransferFrom(p.plan, 1, 0);
    t.receivers.push_back(6);
    Rename(t, "ppo_policy2policy");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {6}, {"listed twice"});
  }
  SECTION("a receiver written in both stage 1 and stage 2") {
    Planned p = Golden("028");  // 0->8 in stage 1, then 8->9 in stage 2.
    PlannedTransfer& t = TransferFrom(p.plan, 1, 0);
    t.receivers.push_back(9);
    Rename(t, "ppo_policy2policy_stage1_comm");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {9}, {"twice", "stage 1", "stage 2"});
  }
  SECTION("a stage-2 pair whose root got nothing in stage 1") {
    Planned p = Golden("028");
    PlannedTransfer& t = TransferFrom(p.plan, 2, 8);  // 8 -> 9.
    t.root = 10;                                      // 10 only receives in stage 2.
    Rename(t, "ppo_policy2policy_stage2_comm_0_0_0");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {10}, {"receives no \"default\" weights in stage 1"});
  }
  SECTION("two receivers of one transfer on one GPU") {
    Planned p = Golden("010");  // 0 -> 2, 4, 6, 8 on separate GPUs.
    for (EndpointPlacement& e : p.topology.endpoints) {
      if (e.rank == 6) e.gpu = 2;  // Rank 4's GPU.
    }
    CheckRefused(p.topology, p.plan, {4, 6}, {"share node 0 gpu 2"});
  }
  SECTION("a root and a receiver on one GPU is a device copy, not an error") {
    Planned p = Golden("010");
    for (EndpointPlacement& e : p.topology.endpoints) {
      if (e.rank == 6) {
        e.node = 1;
        e.gpu = 0;  // Rank 0's GPU.
      }
    }
    CHECK(VerifySyncPlan(p.topology, p.plan).ok());
  }
  SECTION("two members of an all-gather group on one GPU") {
    Planned p = Golden("052");  // HEP vLLM ep2 -> ep1 (p2p): all-gather among 0 and 1.
    REQUIRE(std::count(p.plan.collective_groups.begin(), p.plan.collective_groups.end(),
                       "ppo_policy2policy_allgather_routed_among_0_1") == 1);
    for (EndpointPlacement& e : p.topology.endpoints) {
      if (e.rank == 1) e.gpu = 0;
    }
    CheckRefused(p.topology, p.plan, {0, 1}, {"all-gather group"});
  }
  SECTION("a group name shared by transfers of different members") {
    Planned p = Golden("028");
    const std::string shared = TransferFrom(p.plan, 1, 0).group_name;
    TransferFrom(p.plan, 1, 1).group_name = shared;
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {0, 1}, {shared, "unique group names"});
  }
  SECTION("a group name that does not match its members") {
    Planned p = Golden("006");
    TransferFrom(p.plan, 1, 0).group_name = "ppo_policy2policy_default_from_0_to_5";
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {0, 4}, {"ppo_policy2policy_default_from_0_to_5"});
  }
  SECTION("collective_groups lacks a transfer's group") {
    Planned p = Golden("028");
    const std::string name = "ppo_policy2policy_stage2_comm_0_0_1_default_from_11_to_10";
    auto it = std::find(p.plan.collective_groups.begin(), p.plan.collective_groups.end(), name);
    REQUIRE(it != p.plan.collective_groups.end());
    p.plan.collective_groups.erase(it);
    CheckRefused(p.topology, p.plan, {11, 10}, {name, "missing from collective_groups"});
  }
  SECTION("collective_groups lists a group no transfer runs in") {
    Planned p = Golden("020");  // p2p: no collective groups.
    p.plan.collective_groups.push_back("ppo_policy2policy_default_from_0_to_4");
    CheckRefused(p.topology, p.plan, {0, 4}, {"neither a transfer's group"});
  }
  SECTION("collective_groups lists a group twice") {
    Planned p = Golden("006");
    p.plan.collective_groups.push_back(p.plan.collective_groups.front());
    CheckRefused(p.topology, p.plan, {}, {"twice", p.plan.collective_groups.front()});
  }
  SECTION("a src rank as a receiver") {
    Planned p = Golden("006");
    PlannedTransfer& t = TransferFrom(p.plan, 1, 0);
    t.receivers = {3};
    Rename(t, "ppo_policy2policy");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {3}, {"trainer rank"});
  }
  SECTION("a dst rank as a stage-1 root") {
    Planned p = Golden("006");
    PlannedTransfer& t = TransferFrom(p.plan, 1, 0);
    t.root = 5;
    Rename(t, "ppo_policy2policy");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {5}, {"stage 1 sends from src ranks"});
  }
  SECTION("a src rank as a stage-2 root") {
    Planned p = Golden("028");
    PlannedTransfer& t = TransferFrom(p.plan, 2, 8);
    t.root = 0;
    Rename(t, "ppo_policy2policy_stage2_comm_0_0_0");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {0}, {"stage 2 sends from dst ranks"});
  }
  SECTION("a receiver outside the topology") {
    Planned p = Golden("006");  // Ranks 0 .. 7.
    PlannedTransfer& t = TransferFrom(p.plan, 1, 0);
    t.receivers = {8};
    Rename(t, "ppo_policy2policy");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {8}, {"not a rank of the topology"});
  }
  SECTION("a negative root") {
    Planned p = Golden("020");
    p.plan.transfers[0].root = -1;
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {-1}, {"not a rank of the topology"});
  }
  SECTION("a missing endpoint") {
    Planned p = Golden("006");
    p.topology.endpoints.erase(p.topology.endpoints.begin() + 6);
    CheckRefused(p.topology, p.plan, {6}, {"endpoint"});
  }
  SECTION("a stage of the wrong pipeline stage") {
    Planned p = Golden("018");  // pp2 -> pp2: 0 -> 8 (stage 0), 2 -> 12 (stage 0 of replica 1).
    PlannedTransfer& t = TransferFrom(p.plan, 1, 0);
    t.receivers = {10};  // Rank 10 is dst stage 1.
    Rename(t, "ppo_policy2policy");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {10}, {"maps onto dst pipeline stage 0"});
  }
  SECTION("a p2p transfer with two receivers") {
    Planned p = Golden("020");
    p.plan.transfers[0].receivers.push_back(5);
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {0}, {"exactly one receiver"});
  }
  SECTION("routed experts in stage 2") {
    Planned p = Golden("056");
    PlannedTransfer& t = TransferFrom(p.plan, 1, 0);  // routed 0 -> 4 comes first.
    REQUIRE(t.param_group == "routed");
    t.stage = 2;
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {0}, {"routed experts move in stage 1 only"});
  }
  SECTION("routed experts that reach no rank") {
    Planned p = Golden("056");
    p.plan.transfers.erase(
        std::remove_if(p.plan.transfers.begin(), p.plan.transfers.end(),
                       [](const PlannedTransfer& t) { return t.param_group == "routed"; }),
        p.plan.transfers.end());
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {4, 5, 6, 7}, {"would not receive \"routed\""});
  }
  SECTION("default mixed with except_routed") {
    Planned p = Golden("056");
    PlannedTransfer& t = TransferFrom(p.plan, 1, 3);  // routed 3 -> 7.
    t.param_group = "default";
    Rename(t, "ppo_policy2policy");
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {3}, {"mixes"});
  }
  SECTION("no transfers at all") {
    Planned p = Golden("006");
    p.plan.transfers.clear();
    DeriveFieldsFromTransfers(p.topology, p.plan);
    CheckRefused(p.topology, p.plan, {4, 5, 6, 7}, {"would not receive \"default\""});
  }
  SECTION("pair lists that disagree with the transfers") {
    Planned p = Golden("006");
    p.plan.stage1[1].second = 6;
    CheckRefused(p.topology, p.plan, {1, 5}, {"plan.stage1"});
  }
}

TEST_CASE("A 16k-GPU plan verifies quickly", "[planner][verifier]") {
  // Colocated: trainer tp8 pp4 dp256 (8192 ranks, 8 GPUs a node) -> vLLM tp8 pp2
  // x 512 replicas (8192 ranks on the same GPUs, reversed within a node).
  SyncTopology topology;
  topology.group_name = "big";
  topology.colocated = true;
  topology.src = {std::string(kEngineMegatron), 8, 4, 1, 256, 1};
  topology.dst = {std::string(kEngineVllm), 8, 2, 1, 1, 512};
  const int num_src = 8 * 4 * 256;
  for (int rank = 0; rank < num_src; ++rank) {
    EndpointPlacement e;
    e.is_src = true;
    e.rank = e.local_rank = rank;
    e.node = rank / 8;
    e.gpu = rank % 8;
    e.tp_rank = rank % 8;
    e.dp_rank = (rank / 8) % 256;
    e.pp_rank = rank / (8 * 256);
    topology.endpoints.push_back(e);
  }
  for (int i = 0; i < num_src; ++i) {
    EndpointPlacement e;
    e.rank = num_src + i;
    e.replica = i / 16;
    e.local_rank = i % 16;
    e.node = i / 8;
    e.gpu = 7 - i % 8;
    e.tp_rank = e.local_rank % 8;
    e.pp_rank = e.local_rank / 8;
    topology.endpoints.push_back(e);
  }
  const absl::StatusOr<SyncPlan> plan = BuildSyncPlan(topology);
  REQUIRE(plan.ok());
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = VerifySyncPlan(topology, *plan);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  INFO(status.ToString());
  CHECK(status.ok());
  std::cout << "VerifySyncPlan: 16384 ranks, " << plan->transfers.size() << " transfers, "
            << plan->stage1.size() << " pairs in " << ms << " ms\n";
  // Generous for unoptimized builds on a loaded machine; about 10 ms optimized.
  CHECK(ms < 1000);
}

}  // namespace
}  // namespace paramsync::planner
