// Logical layouts: explicit pieces are checked when an endpoint registers
// (ValidateLogicalPieces), default pieces follow each rank's TP and EP layout,
// and the pieces of one logical parameter must agree on its shape.
#include "coordinator/reshard/logical_layout.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "coordinator/registry/endpoint_validation.h"
#include "tests/reshard/check_status.h"
#include "tests/reshard/reshard_topology.h"

namespace paramsync::coordinator {
namespace {

using testing::CheckError;
using testing::Side;

void SetBox(v1::TensorBox* box, std::vector<int64_t> start, std::vector<int64_t> extent) {
  box->mutable_start()->Add(start.begin(), start.end());
  box->mutable_extent()->Add(extent.begin(), extent.end());
}

v1::LogicalPiece Piece(const std::string& name, std::vector<int64_t> shape,
                       std::vector<int64_t> logical_start, std::vector<int64_t> local_start,
                       std::vector<int64_t> extent) {
  v1::LogicalPiece piece;
  piece.set_logical_name(name);
  piece.mutable_logical_shape()->Add(shape.begin(), shape.end());
  SetBox(piece.mutable_logical_box(), logical_start, extent);
  SetBox(piece.mutable_local_box(), local_start, extent);
  return piece;
}

// A rank holding a fused [q | k] tensor of 6 rows: q rows [0, 4) and k rows
// [4, 6), of logical [8, 2] "q" and [4, 2] "k".
google::protobuf::RepeatedPtrField<v1::ParameterSpec> Fused() {
  google::protobuf::RepeatedPtrField<v1::ParameterSpec> tensors;
  v1::ParameterSpec* qk = tensors.Add();
  *qk = testing::Tensor("qk", {6, 2}, 0);
  *qk->add_logical() = Piece("q", {8, 2}, {4, 0}, {0, 0}, {4, 2});
  *qk->add_logical() = Piece("k", {4, 2}, {2, 0}, {4, 0}, {2, 2});
  return tensors;
}

v1::EndpointSpec Endpoint() {
  v1::EndpointSpec spec;
  spec.set_model("vllm");
  spec.set_rank(1);
  return spec;
}

TEST_CASE("Explicit logical pieces are checked at registration, naming the piece",
          "[reshard][logical_layout]") {
  REQUIRE(ValidateLogicalPieces(Endpoint(), Fused()).ok());
  const std::string where = "endpoint vllm rank 1 tensor 'qk' logical[1]: ";
  auto broken = Fused();
  broken.Mutable(0)->mutable_logical(1)->add_logical_shape(3);
  CheckError(ValidateLogicalPieces(Endpoint(), broken), absl::StatusCode::kInvalidArgument,
             where + "logical_shape [4,2,3] has 3 dimensions; accepted: the tensor's 2");
  broken = Fused();
  broken.Mutable(0)->mutable_logical(1)->mutable_local_box()->set_start(0, 5);
  CheckError(ValidateLogicalPieces(Endpoint(), broken), absl::StatusCode::kInvalidArgument,
             where +
                 "local_box (start [5,0], extent [2,2]) is not inside the tensor of shape "
                 "[6,2] in dimension 0");
  broken = Fused();
  broken.Mutable(0)->mutable_logical(1)->mutable_logical_box()->set_start(0, 3);
  CheckError(ValidateLogicalPieces(Endpoint(), broken), absl::StatusCode::kInvalidArgument,
             where + "logical_box (start [3,0], extent [2,2]) is not inside the logical parameter");
  broken = Fused();
  broken.Mutable(0)->mutable_logical(1)->mutable_logical_box()->set_extent(0, 1);
  CheckError(ValidateLogicalPieces(Endpoint(), broken), absl::StatusCode::kInvalidArgument,
             where + "local_box extent [2,2] differs from logical_box extent [1,2]");
  broken = Fused();
  broken.Mutable(0)->mutable_logical(1)->mutable_local_box()->set_start(0, 3);
  CheckError(ValidateLogicalPieces(Endpoint(), broken), absl::StatusCode::kInvalidArgument,
             where + "local_box overlaps logical[0]'s at [3,0]");
  broken = Fused();
  broken.Mutable(0)->mutable_logical(1)->mutable_local_box()->clear_extent();
  CheckError(ValidateLogicalPieces(Endpoint(), broken), absl::StatusCode::kInvalidArgument,
             where + "local_box has 2 starts and 0 extents");
  broken = Fused();
  broken.Mutable(0)->mutable_logical(1)->set_logical_name("");
  CheckError(ValidateLogicalPieces(Endpoint(), broken), absl::StatusCode::kInvalidArgument,
             where + "logical_name must be 1 to");
  broken = Fused();
  *broken.Mutable(0)->mutable_logical(1) = Piece("q", {4, 2}, {2, 0}, {4, 0}, {2, 2});
  CheckError(ValidateLogicalPieces(Endpoint(), broken), absl::StatusCode::kInvalidArgument,
             where +
                 "logical parameter 'q' has logical_shape [4,2] here but [8,2] in tensor 'qk' "
                 "logical[0]");
  broken = Fused();
  for (int i = 0; i < kMaxLogicalPiecesPerTensor; ++i) {
    *broken.Mutable(0)->add_logical() = broken.Get(0).logical(0);
  }
  CheckError(ValidateLogicalPieces(Endpoint(), broken), absl::StatusCode::kInvalidArgument,
             "endpoint vllm rank 1 tensor 'qk' has 1026 logical pieces; accepted: at most 1024");
}

// "w" split on rows, "norm" replicated, "experts" routed ([4 experts, 6, 2],
// split by TP on dim 1).
std::vector<v1::ParameterSpec> Tensors(const Side& side, int, int, int) {
  v1::ParameterSpec experts = testing::Tensor("experts", {4 / side.ep, 6 / side.tp, 2}, 1);
  experts.set_expert_dim(0);
  return {testing::Tensor("w", {12 / side.tp, 2}, 0), testing::Tensor("norm", {2}, std::nullopt),
          experts};
}

TEST_CASE("Default pieces place each rank's shard by its TP and EP layout",
          "[reshard][logical_layout]") {
  // Trainer TP1 x EP2 (DP2); inference TP2: src tp*ep == dst tp*ep, so each
  // inference rank holds a block of whole experts.
  const Side src{1, 1, 2, 2};
  const Side dst{2, 1, 1};
  auto inference = [](const Side& side, int tp_rank, int pp_rank, int ep_rank) {
    std::vector<v1::ParameterSpec> tensors = Tensors(side, tp_rank, pp_rank, ep_rank);
    tensors[2].set_shape(0, 2);
    tensors[2].set_shape(1, 6);
    return tensors;
  };
  absl::StatusOr<SyncParticipants> participants =
      testing::Participants(testing::Endpoints(
                                "t", true, src, [](int r) { return r; }, Tensors),
                            testing::Endpoints(
                                "i", false, dst, [](int r) { return 2 + r; }, inference),
                            testing::Agents(4), /*hep=*/true);
  REQUIRE(participants.ok());
  absl::StatusOr<LogicalLayout> layout = BuildLogicalLayout(*participants);
  INFO(layout.status().ToString());
  REQUIRE(layout.ok());
  const LogicalParameter& w = layout->parameters.at("w");
  CHECK(w.shape == Shape{12, 2});
  REQUIRE(w.destinations.size() == 2);
  CHECK(w.destinations[1].piece.logical == Box{{6, 0}, {6, 2}});
  CHECK(w.destinations[1].piece.local_start == Shape{0, 0});
  const LogicalParameter& experts = layout->parameters.at("experts");
  CHECK(experts.shape == Shape{4, 6, 2});
  REQUIRE(experts.sources.size() == 2);
  CHECK(experts.sources[1].piece.logical == Box{{2, 0, 0}, {2, 6, 2}});
  REQUIRE(experts.destinations.size() == 2);
  CHECK(experts.destinations[1].piece.logical == Box{{2, 0, 0}, {2, 6, 2}});
  CHECK(layout->parameters.at("norm").destinations[1].piece.logical == Box{{0}, {2}});
}

TEST_CASE("Pieces of one logical parameter must agree on its shape", "[reshard][logical_layout]") {
  auto wider = [](const Side& side, int tp_rank, int pp_rank, int ep_rank) {
    std::vector<v1::ParameterSpec> tensors = Tensors(side, tp_rank, pp_rank, ep_rank);
    tensors[0].set_shape(1, 3);
    return tensors;
  };
  absl::StatusOr<SyncParticipants> participants =
      testing::Participants(testing::Endpoints(
                                "t", true, Side{2}, [](int r) { return r; }, Tensors),
                            testing::Endpoints(
                                "i", false, Side{3}, [](int r) { return 2 + r; }, wider),
                            testing::Agents(5));
  REQUIRE(participants.ok());
  CheckError(BuildLogicalLayout(*participants).status(), absl::StatusCode::kFailedPrecondition,
             "logical parameter 'w' is [12,2] in t rank 0 (sync rank 0) tensor 'w' but [12,3] in "
             "i rank 0 (sync rank 2) tensor 'w'");
}

}  // namespace
}  // namespace paramsync::coordinator
