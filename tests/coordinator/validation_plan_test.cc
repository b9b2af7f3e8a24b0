// The global boxes of ranks' tensors and the validation plan built on them,
// on participants made directly (no planner): which regions are digested
// where, and which layouts are refused.
#include "coordinator/sync/validation_plan.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/sync/global_boxes.h"

namespace paramsync::coordinator {
namespace {

using Shape = std::vector<int64_t>;

v1::ParameterSpec Param(const std::string& name, const Shape& shape, std::optional<int> split,
                        std::optional<int> expert_dim = std::nullopt) {
  v1::ParameterSpec p;
  p.set_name(name);
  p.set_dtype(v1::DTYPE_BFLOAT16);
  for (int64_t d : shape) p.add_shape(d);
  if (split.has_value()) p.set_tp_split_dim(*split);
  if (expert_dim.has_value()) p.set_expert_dim(*expert_dim);
  return p;
}

// Ranks are added in sync-rank order, each on an agent of its own.
class Participants {
 public:
  Participants(int src_tp, int src_ep, int dst_tp, bool hep = false) {
    p_.topology.hep = hep;
    p_.topology.src.tp = src_tp;
    p_.topology.src.ep = src_ep;
    p_.topology.dst.tp = dst_tp;
  }

  // A rank with `parameters`, at (tp_rank, ep_rank) of tp x ep.
  Participants& Add(bool trainer, int tp, int tp_rank, int ep, int ep_rank,
                    std::vector<v1::ParameterSpec> parameters) {
    SyncRank rank;
    rank.sync_rank = static_cast<int>(p_.ranks.size());
    rank.endpoint.spec.set_model(trainer ? "trainer" : "vllm");
    rank.endpoint.spec.set_rank(trainer ? rank.sync_rank : rank.sync_rank - p_.num_src);
    v1::ParallelConfig* parallel = rank.endpoint.spec.mutable_parallel();
    parallel->set_tp_size(tp);
    parallel->set_tp_rank(tp_rank);
    parallel->set_ep_size(ep);
    parallel->set_ep_rank(ep_rank);
    rank.endpoint.parameters = std::move(parameters);
    rank.agent.set_agent_id(absl::StrCat("agent-", rank.sync_rank));
    if (trainer) ++p_.num_src;
    p_.ranks.push_back(std::move(rank));
    return *this;
  }

  const SyncParticipants& get() const { return p_; }

  // A transfer plan with every rank's agent (all the validation plan reads).
  TransferPlan Transfer() const {
    TransferPlan plan;
    for (const SyncRank& rank : p_.ranks) plan.agents.push_back({rank.agent, {}, {}, {}});
    return plan;
  }

  absl::StatusOr<ValidationPlan> Plan() const { return BuildValidationPlan(p_, Transfer()); }

 private:
  SyncParticipants p_;
};

Shape Ints(const google::protobuf::RepeatedField<int64_t>& field) {
  return {field.begin(), field.end()};
}

GlobalBox BoxOf(const Participants& p, int sync_rank, int parameter) {
  const SyncRank& rank = p.get().ranks[sync_rank];
  absl::StatusOr<GlobalBox> box = GlobalBoxOf(p.get(), rank, rank.endpoint.parameters[parameter]);
  INFO(box.status().ToString());
  REQUIRE(box.ok());
  return *box;
}

const v1::DigestItem& ItemOf(const ValidationPlan& plan, const ValidationPlan::DigestRef& ref) {
  return plan.requests[ref.agent].items(ref.item);
}

std::vector<v1::ParameterSpec> DenseParameters(int tp) {
  return {Param("qkv", {16 / tp, 8}, 0), Param("proj", {8, 16 / tp}, 1),
          Param("norm", {8}, std::nullopt)};
}

TEST_CASE("TP shards sit at their rank's block of the split dimension; others are whole",
          "[validation_plan]") {
  Participants p(2, 1, 4);
  p.Add(true, 2, 0, 1, 0, DenseParameters(2)).Add(true, 2, 1, 1, 0, DenseParameters(2));
  p.Add(false, 4, 3, 1, 0, DenseParameters(4));
  GlobalBox qkv = BoxOf(p, 1, 0);
  CHECK(qkv.shape == Shape{16, 8});
  CHECK(qkv.start == Shape{8, 0});
  CHECK(qkv.extent == Shape{8, 8});
  GlobalBox proj = BoxOf(p, 2, 1);
  CHECK(proj.shape == Shape{8, 16});
  CHECK(proj.start == Shape{0, 12});
  GlobalBox norm = BoxOf(p, 1, 2);
  CHECK(norm.shape == Shape{8});
  CHECK(norm.start == Shape{0});
}

TEST_CASE("Routed experts: trainer EP blocks split by TP, inference blocks of whole experts",
          "[validation_plan]") {
  // fc1 [experts, rows, hidden]: experts on dim 0, TP on dim 1.
  auto fc1 = [](int64_t experts, int64_t rows) {
    return std::vector<v1::ParameterSpec>{Param("fc1", {experts, rows, 4}, 1, 0)};
  };
  SECTION("expert layout: src tp*ep == dst tp*ep") {
    Participants p(2, 2, 4, /*hep=*/true);
    p.Add(true, 2, 1, 2, 1, fc1(4, 6));    // EP block 1 of 2, TP half 1 of 2.
    p.Add(false, 4, 3, 1, 0, fc1(2, 12));  // Expert block 3 of 4, whole.
    GlobalBox src = BoxOf(p, 0, 0);
    CHECK(src.shape == Shape{8, 12, 4});
    CHECK(src.start == Shape{4, 6, 0});
    GlobalBox dst = BoxOf(p, 1, 0);
    CHECK(dst.shape == Shape{8, 12, 4});
    CHECK(dst.start == Shape{6, 0, 0});
  }
  SECTION("TP layout: every expert, split by the inference TP") {
    Participants p(1, 4, 2, /*hep=*/true);
    p.Add(true, 1, 0, 4, 2, fc1(2, 12));
    p.Add(false, 2, 1, 1, 0, fc1(8, 6));
    CHECK(BoxOf(p, 0, 0).start == Shape{4, 0, 0});
    GlobalBox dst = BoxOf(p, 1, 0);
    CHECK(dst.shape == Shape{8, 12, 4});
    CHECK(dst.start == Shape{0, 6, 0});
  }
  SECTION("without HEP an expert dimension is an ordinary one") {
    Participants p(1, 1, 1, /*hep=*/false);
    p.Add(true, 1, 0, 2, 1, fc1(4, 12));
    CHECK(BoxOf(p, 0, 0).start == Shape{0, 0, 0});
  }
}

TEST_CASE("TP2 -> TP4: each destination is one region of one trainer shard; copies once",
          "[validation_plan]") {
  Participants p(2, 1, 4);
  p.Add(true, 2, 0, 1, 0, DenseParameters(2)).Add(true, 2, 1, 1, 0, DenseParameters(2));
  for (int t = 0; t < 4; ++t) p.Add(false, 4, t, 1, 0, DenseParameters(4));
  absl::StatusOr<ValidationPlan> plan = p.Plan();
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  REQUIRE(plan->checks.size() == 12);
  for (const ValidationPlan::Check& check : plan->checks) {
    REQUIRE(check.sources.size() == 1);
    const v1::DigestItem& dst = ItemOf(*plan, check.destination);
    const v1::DigestItem& src = ItemOf(*plan, check.sources[0]);
    CHECK(dst.name() == src.name());
    CHECK(dst.endpoint().model() == "vllm");
    CHECK(src.endpoint().model() == "trainer");
    // The destination whole; the trainer exactly the destination's box.
    CHECK(Ints(dst.region().start()) == Shape(dst.region().start_size(), 0));
    CHECK(Ints(src.global_start()) == Ints(dst.global_start()));
    CHECK(Ints(src.region().extent()) == Ints(dst.region().extent()));
    CHECK(Ints(src.global_shape()) == Ints(dst.global_shape()));
    if (src.name() == "norm") CHECK(src.endpoint().rank() == 0);  // One copy: the lowest rank's.
  }
  CHECK(plan->checks[3].tensor == "vllm rank 1 'qkv'");
  // qkv and proj: 4 regions each over two trainer ranks; norm once.
  CHECK(plan->requests[0].items_size() + plan->requests[1].items_size() == 9);
  for (int dst = 2; dst < 6; ++dst) CHECK(plan->requests[dst].items_size() == 3);
}

TEST_CASE("A destination wider than a source shard adds up several sources", "[validation_plan]") {
  // TP4 -> TP2 (a resharding plan): each destination spans two trainer shards.
  Participants p(4, 1, 2);
  for (int t = 0; t < 4; ++t) p.Add(true, 4, t, 1, 0, DenseParameters(4));
  for (int t = 0; t < 2; ++t) p.Add(false, 2, t, 1, 0, DenseParameters(2));
  absl::StatusOr<ValidationPlan> plan = p.Plan();
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  for (const ValidationPlan::Check& check : plan->checks) {
    const bool replicated = check.tensor.find("'norm'") != std::string::npos;
    CHECK(check.sources.size() == (replicated ? 1u : 2u));
    for (const ValidationPlan::DigestRef& source : check.sources) {
      const v1::DigestItem& item = ItemOf(*plan, source);  // Whole shards.
      CHECK(Ints(item.region().start()) == Shape(item.region().start_size(), 0));
      int64_t elements = 1;
      for (int64_t e : item.region().extent()) elements *= e;
      CHECK(elements == (replicated ? 8 : 32));
    }
  }
}

TEST_CASE("A tensor of explicit logical pieces is checked piece by piece", "[validation_plan]") {
  // The trainer holds "q" [8, 2] and "k" [4, 2] whole; the inference rank one
  // fused tensor of q rows [0, 8) then k rows [0, 4), and 2 rows of padding.
  Participants p(1, 1, 1);
  p.Add(true, 1, 0, 1, 0, {Param("q", {8, 2}, 0), Param("k", {4, 2}, 0)});
  v1::ParameterSpec fused = Param("qk", {14, 2}, 0);
  auto field = [](const Shape& values) {
    return google::protobuf::RepeatedField<int64_t>(values.begin(), values.end());
  };
  for (const auto& [name, rows, at] : {std::tuple{"q", 8, 0}, std::tuple{"k", 4, 8}}) {
    v1::LogicalPiece* piece = fused.add_logical();
    piece->set_logical_name(name);
    *piece->mutable_logical_shape() = field({rows, 2});
    *piece->mutable_logical_box()->mutable_start() = field({0, 0});
    *piece->mutable_logical_box()->mutable_extent() = field({rows, 2});
    *piece->mutable_local_box()->mutable_start() = field({at, 0});
    *piece->mutable_local_box()->mutable_extent() = field({rows, 2});
  }
  p.Add(false, 1, 0, 1, 0, {fused});
  absl::StatusOr<ValidationPlan> plan = p.Plan();
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  REQUIRE(plan->checks.size() == 2);
  CHECK(plan->checks[1].tensor == "vllm rank 0 'qk' (logical 'k')");
  const v1::DigestItem& k = ItemOf(*plan, plan->checks[1].destination);
  CHECK(k.name() == "qk");
  CHECK(Ints(k.global_shape()) == Shape{4, 2});
  CHECK(Ints(k.global_start()) == Shape{0, 0});
  CHECK(Ints(k.region().start()) == Shape{8, 0});
  CHECK(Ints(k.region().extent()) == Shape{4, 2});
  REQUIRE(plan->checks[1].sources.size() == 1);
  CHECK(ItemOf(*plan, plan->checks[1].sources[0]).name() == "k");
}

TEST_CASE("Trainer boxes that overlap: each element is digested from one of them",
          "[validation_plan]") {
  // Rank 0 holds rows [0, 6) of w (explicit pieces), rank 1 rows [4, 8).
  Participants p(1, 1, 1);
  auto rows = [](int64_t first, int64_t count) {
    v1::ParameterSpec w = Param("w", {count, 2}, std::nullopt);
    v1::LogicalPiece* piece = w.add_logical();
    piece->set_logical_name("w");
    piece->add_logical_shape(8);
    piece->add_logical_shape(2);
    piece->mutable_logical_box()->add_start(first);
    piece->mutable_logical_box()->add_start(0);
    piece->mutable_logical_box()->add_extent(count);
    piece->mutable_logical_box()->add_extent(2);
    piece->mutable_local_box()->add_start(0);
    piece->mutable_local_box()->add_start(0);
    piece->mutable_local_box()->add_extent(count);
    piece->mutable_local_box()->add_extent(2);
    return w;
  };
  p.Add(true, 1, 0, 1, 0, {rows(0, 6)}).Add(true, 1, 0, 1, 0, {rows(4, 4)});
  p.Add(false, 1, 0, 1, 0, {Param("w", {8, 2}, std::nullopt)});
  absl::StatusOr<ValidationPlan> plan = p.Plan();
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  REQUIRE(plan->checks.size() == 1);
  int64_t rows_digested = 0;
  for (const ValidationPlan::DigestRef& source : plan->checks[0].sources) {
    rows_digested += ItemOf(*plan, source).region().extent(0);
  }
  CHECK(rows_digested == 8);
}

TEST_CASE("An empty destination tensor needs no source", "[validation_plan]") {
  Participants p(1, 1, 1);
  p.Add(true, 1, 0, 1, 0, {Param("w", {0, 8}, std::nullopt)});
  p.Add(false, 1, 0, 1, 0, {Param("w", {0, 8}, std::nullopt)});
  absl::StatusOr<ValidationPlan> plan = p.Plan();
  INFO(plan.status().ToString());
  REQUIRE(plan.ok());
  REQUIRE(plan->checks.size() == 1);
  CHECK(plan->checks[0].sources.empty());
}

TEST_CASE("Layouts the validation cannot place are refused before any byte moves",
          "[validation_plan]") {
  auto refused = [](const Participants& p, const std::string& needle) {
    absl::Status status = p.Plan().status();
    INFO(status.ToString());
    CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(status.message().find(needle) != absl::string_view::npos);
  };
  SECTION("the sides disagree on the full shape") {
    Participants p(1, 1, 1);
    p.Add(true, 1, 0, 1, 0, {Param("w", {8, 8}, 0)});
    p.Add(false, 1, 0, 1, 0, {Param("w", {8, 8}, std::nullopt)});
    p.Add(false, 1, 0, 1, 0, {Param("w", {8, 4}, 1)});
    refused(p, "but [8,4] in vllm rank 1 (sync rank 2) tensor 'w'");
  }
  SECTION("no trainer rank holds a destination tensor") {
    Participants p(1, 1, 1);
    p.Add(true, 1, 0, 1, 0, {Param("w", {8}, std::nullopt)});
    p.Add(false, 1, 0, 1, 0, {Param("b", {8}, std::nullopt)});
    refused(p, "'b' (vllm rank 0 (sync rank 1)): the trainer holds no copy of 8 of its 8");
  }
  SECTION("the trainer misses part of a destination") {
    Participants p(2, 1, 1);
    p.Add(true, 2, 0, 1, 0, {Param("w", {4, 8}, 0)});
    p.Add(false, 1, 0, 1, 0, {Param("w", {8, 8}, 0)});
    refused(p, "the trainer holds no copy of 32 of its 64 elements (first at [4,0]");
  }
}

}  // namespace
}  // namespace paramsync::coordinator
