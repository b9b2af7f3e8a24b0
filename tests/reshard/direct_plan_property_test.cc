// Property test of the direct planner (PlanDirectMoves) over hundreds of random
// reshards (fixed seed): trainer TP 1-8, PP 1-3 (layers re-split unevenly),
// DP 1-2; inference TP 1-8, PP 1-3, 1-2 replicas; colocated or separate
// agents on one or two hosts; sometimes fused tensors and vocabulary padding
// in explicit logical pieces on one side. Each plan's moves are run on host
// arrays: every destination element a piece covers must hold its logical
// value and be written exactly once (so the plan moves the minimum of bytes),
// padding must stay untouched, and a region some trainer rank holds on the
// receiver's own agent must come from that agent.
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/reshard/direct_plan_builder.h"
#include "coordinator/reshard/direct_transfer_plan.h"
#include "coordinator/sync/sync_participants.h"
#include "tests/reshard/reshard_topology.h"

namespace paramsync::coordinator {
namespace {

using testing::Side;

constexpr int kCases = 300;
constexpr uint64_t kSeed = 0x7e5a4d;
constexpr int64_t kWide = 840;  // Divisible by every TP size 1..8.
constexpr int kLayers = 5;

// One full (unsharded) parameter of the test model.
struct FullParameter {
  std::string name;
  Shape shape;
  std::optional<int> split;  // TP split dimension; none: replicated.
  int layer = -1;            // -1: embedding (first stage) or head (last stage).
  bool head = false;
};

std::vector<FullParameter> TestModel() {
  std::vector<FullParameter> out = {{"embed", {kWide, 2}, 0, -1, false}};
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = absl::StrCat("layers.", l, ".");
    out.push_back({p + "qkv", {kWide, 2}, 0, l});
    out.push_back({p + "gate", {kWide, 2}, 0, l});
    out.push_back({p + "proj", {2, kWide}, 1, l});
    out.push_back({p + "bias", {kWide}, 0, l});
    out.push_back({p + "norm", {3}, std::nullopt, l});
  }
  out.push_back({"final_norm", {3}, std::nullopt, -1, true});
  out.push_back({"output", {kWide, 2}, 0, -1, true});
  return out;
}

bool OnStage(const FullParameter& p, int pp, int stage) {
  if (p.layer >= 0) return p.layer * pp / kLayers == stage;
  return p.head ? stage == pp - 1 : stage == 0;
}

uint32_t LogicalValue(const std::string& name, int64_t index) {
  return static_cast<uint32_t>(std::hash<std::string>()(name) * 0x9e3779b97f4a7c15ULL + index);
}

int64_t RowMajor(const Shape& shape, const Shape& index) {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
  return flat;
}

// Calls `visit(index)` for every element of a box, its index from the box's start.
void ForEachIndex(const Shape& extent, const std::function<void(const Shape&)>& visit) {
  Shape index(extent.size(), 0);
  if (Volume(extent) == 0) return;
  while (true) {
    visit(index);
    size_t d = extent.size();
    while (d > 0) {
      --d;
      if (++index[d] < extent[d]) break;
      index[d] = 0;
      if (d == 0) return;
    }
    if (extent.empty()) return;
  }
}

Shape Add(const Shape& a, const Shape& b) {
  Shape out = a;
  for (size_t d = 0; d < out.size(); ++d) out[d] += b[d];
  return out;
}

void AddPiece(v1::ParameterSpec& tensor, const std::string& logical, const Shape& logical_shape,
              const Shape& logical_start, const Shape& local_start, const Shape& extent) {
  v1::LogicalPiece* piece = tensor.add_logical();
  piece->set_logical_name(logical);
  piece->mutable_logical_shape()->Add(logical_shape.begin(), logical_shape.end());
  piece->mutable_logical_box()->mutable_start()->Add(logical_start.begin(), logical_start.end());
  piece->mutable_logical_box()->mutable_extent()->Add(extent.begin(), extent.end());
  piece->mutable_local_box()->mutable_start()->Add(local_start.begin(), local_start.end());
  piece->mutable_local_box()->mutable_extent()->Add(extent.begin(), extent.end());
}

// The tensors of one rank. With `fused`, each layer's qkv and gate shards are
// one tensor ("layers.L.qkv_gate") and the embedding has two rows of padding,
// all in explicit pieces; otherwise every tensor has its default piece.
std::vector<v1::ParameterSpec> RankTensors(int tp, int tp_rank, int pp, int stage, bool fused) {
  std::vector<v1::ParameterSpec> out;
  auto shard = [&](const FullParameter& p) {
    Shape shape = p.shape;
    Shape start(shape.size(), 0);
    if (p.split.has_value()) {
      shape[*p.split] /= tp;
      start[*p.split] = shape[*p.split] * tp_rank;
    }
    return std::make_pair(shape, start);
  };
  std::map<std::string, v1::ParameterSpec> pending_fusion;
  for (const FullParameter& p : TestModel()) {
    if (!OnStage(p, pp, stage)) continue;
    const auto [shape, start] = shard(p);
    v1::ParameterSpec tensor;
    tensor.set_name(p.name);
    tensor.set_dtype(v1::DTYPE_FLOAT32);
    if (p.split.has_value()) tensor.set_tp_split_dim(*p.split);
    tensor.mutable_shape()->Add(shape.begin(), shape.end());
    const bool fuse = fused && p.layer >= 0 &&
                      (absl::EndsWith(p.name, ".qkv") || absl::EndsWith(p.name, ".gate"));
    if (fused && p.name == "embed") {
      Shape padded = shape;
      padded[0] += 2;
      tensor.clear_shape();
      tensor.mutable_shape()->Add(padded.begin(), padded.end());
      AddPiece(tensor, p.name, p.shape, start, Shape(shape.size(), 0), shape);
    } else if (fuse) {
      const std::string name = absl::StrCat("layers.", p.layer, ".qkv_gate");
      v1::ParameterSpec& fused_tensor = pending_fusion[name];
      const bool first = fused_tensor.name().empty();
      fused_tensor.set_name(name);
      fused_tensor.set_dtype(v1::DTYPE_FLOAT32);
      const Shape local_start = {first ? 0 : shape[0], 0};
      AddPiece(fused_tensor, p.name, p.shape, start, local_start, shape);
      if (first) continue;
      fused_tensor.add_shape(2 * shape[0]);
      fused_tensor.add_shape(shape[1]);
      out.push_back(std::move(fused_tensor));
      continue;
    }
    out.push_back(std::move(tensor));
  }
  return out;
}

// Every rank's tensors by (sync rank, tensor name): trainer tensors hold each
// piece's logical values, everything else kUnset until a move writes it.
using Memory = std::map<std::pair<int, std::string>, std::vector<uint32_t>>;
constexpr uint32_t kUnset = 0xdeadbeef;

// Explicit or default pieces, as the test model defines them (not as the
// planner derives them): logical name, logical shape and boxes.
struct TestPiece {
  std::string logical;
  Shape logical_shape;
  Box logical_box;
  Shape local_start;
};
std::vector<TestPiece> TestPieces(const v1::ParameterSpec& tensor, const v1::EndpointSpec& spec) {
  std::vector<TestPiece> out;
  if (tensor.logical().empty()) {
    Shape shape(tensor.shape().begin(), tensor.shape().end());
    Shape full = shape;
    Shape start(shape.size(), 0);
    if (tensor.has_tp_split_dim()) {
      full[tensor.tp_split_dim()] *= spec.parallel().tp_size();
      start[tensor.tp_split_dim()] = shape[tensor.tp_split_dim()] * spec.parallel().tp_rank();
    }
    out.push_back({tensor.name(), full, {start, shape}, Shape(shape.size(), 0)});
    return out;
  }
  for (const v1::LogicalPiece& p : tensor.logical()) {
    out.push_back({p.logical_name(),
                   Shape(p.logical_shape().begin(), p.logical_shape().end()),
                   {Shape(p.logical_box().start().begin(), p.logical_box().start().end()),
                    Shape(p.logical_box().extent().begin(), p.logical_box().extent().end())},
                   Shape(p.local_box().start().begin(), p.local_box().start().end())});
  }
  return out;
}

void RunCase(std::mt19937_64& rng, int index) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const Side src{pick(1, 8), pick(1, 3), pick(1, 2)};
  const Side dst{pick(1, 8), pick(1, 3), pick(1, 2)};
  const int fusion = pick(0, 2);  // 0: none, 1: inference side fused, 2: trainer side.
  const int src_ranks = src.tp * src.pp * src.copies;
  const int dst_ranks = dst.tp * dst.pp * dst.copies;
  const bool colocated = pick(0, 1) == 1;
  const int hosts = pick(1, 2);
  INFO("case " << index << ": trainer tp " << src.tp << " pp " << src.pp << " dp " << src.copies
               << (fusion == 2 ? " fused" : "") << " -> inference tp " << dst.tp << " pp " << dst.pp
               << " x" << dst.copies << (fusion == 1 ? " fused" : "")
               << (colocated ? ", colocated" : ", separate") << " on " << hosts << " hosts");
  auto tensors = [](bool fused) {
    return [fused](const Side& side, int tp_rank, int pp_rank, int) {
      return RankTensors(side.tp, tp_rank, side.pp, pp_rank, fused);
    };
  };
  absl::StatusOr<SyncParticipants> participants = testing::Participants(
      testing::Endpoints(
          "t", true, src, [](int r) { return r; }, tensors(fusion == 2)),
      testing::Endpoints(
          "i", false, dst,
          [&](int r) { return colocated ? (dst_ranks - 1 - r) % src_ranks : src_ranks + r; },
          tensors(fusion == 1)),
      testing::Agents(colocated ? std::max(src_ranks, dst_ranks) : src_ranks + dst_ranks, hosts));
  INFO(participants.status().ToString());
  REQUIRE(participants.ok());
  absl::StatusOr<DirectMoves> moves = PlanDirectMoves(*participants);
  INFO(moves.status().ToString());
  REQUIRE(moves.ok());

  // Trainer memory from the test's own pieces; inference memory unset.
  Memory memory;
  std::map<std::pair<int, std::string>, std::vector<int>> writes;
  for (const SyncRank& rank : participants->ranks) {
    for (const v1::ParameterSpec& tensor : rank.endpoint.parameters) {
      const Shape shape(tensor.shape().begin(), tensor.shape().end());
      std::vector<uint32_t>& bytes = memory[{rank.sync_rank, tensor.name()}];
      bytes.assign(Volume(shape), kUnset);
      writes[{rank.sync_rank, tensor.name()}].assign(Volume(shape), 0);
      if (rank.sync_rank >= participants->num_src) continue;
      for (const TestPiece& piece : TestPieces(tensor, rank.endpoint.spec)) {
        ForEachIndex(piece.logical_box.extent, [&](const Shape& i) {
          bytes[RowMajor(shape, Add(piece.local_start, i))] = LogicalValue(
              piece.logical, RowMajor(piece.logical_shape, Add(piece.logical_box.start, i)));
        });
      }
    }
  }
  int64_t moved = 0;
  for (const BoxMove& move : moves->moves) {
    const Shape src_shape(move.src_tensor->shape().begin(), move.src_tensor->shape().end());
    const Shape dst_shape(move.dst_tensor->shape().begin(), move.dst_tensor->shape().end());
    CHECK(move.src_rank < participants->num_src);
    CHECK(move.dst_rank >= participants->num_src);
    const std::vector<uint32_t>& from = memory[{move.src_rank, move.src_tensor->name()}];
    std::vector<uint32_t>& to = memory[{move.dst_rank, move.dst_tensor->name()}];
    std::vector<int>& count = writes[{move.dst_rank, move.dst_tensor->name()}];
    ForEachIndex(move.extent, [&](const Shape& i) {
      const int64_t at = RowMajor(dst_shape, Add(move.dst_start, i));
      to[at] = from[RowMajor(src_shape, Add(move.src_start, i))];
      ++count[at];
    });
    moved += move.bytes();
  }
  CHECK(moved == moves->dst_bytes);

  // Every covered element holds its value, written once; padding untouched.
  int64_t covered_bytes = 0;
  for (int r = participants->num_src; r < static_cast<int>(participants->ranks.size()); ++r) {
    const SyncRank& rank = participants->ranks[r];
    for (const v1::ParameterSpec& tensor : rank.endpoint.parameters) {
      const Shape shape(tensor.shape().begin(), tensor.shape().end());
      const std::vector<uint32_t>& bytes = memory[{r, tensor.name()}];
      const std::vector<int>& count = writes[{r, tensor.name()}];
      std::vector<bool> in_piece(bytes.size(), false);
      int bad = 0;
      for (const TestPiece& piece : TestPieces(tensor, rank.endpoint.spec)) {
        covered_bytes += Volume(piece.logical_box.extent) * 4;
        ForEachIndex(piece.logical_box.extent, [&](const Shape& i) {
          const int64_t at = RowMajor(shape, Add(piece.local_start, i));
          in_piece[at] = true;
          const uint32_t want = LogicalValue(
              piece.logical, RowMajor(piece.logical_shape, Add(piece.logical_box.start, i)));
          if (count[at] != 1 || bytes[at] != want) ++bad;
        });
      }
      for (size_t at = 0; at < bytes.size(); ++at) {
        if (!in_piece[at] && count[at] != 0) ++bad;
      }
      INFO(Describe(rank) << " tensor " << tensor.name());
      CHECK(bad == 0);
    }
  }
  CHECK(covered_bytes == moves->dst_bytes);

  // A region a trainer rank on the receiver's agent holds comes from that agent.
  for (const BoxMove& move : moves->moves) {
    const SyncRank& receiver = participants->ranks[move.dst_rank];
    if (participants->ranks[move.src_rank].agent.agent_id() == receiver.agent.agent_id()) continue;
    // The move's logical region, from the destination piece holding it.
    for (const TestPiece& piece : TestPieces(*move.dst_tensor, receiver.endpoint.spec)) {
      const Box local{piece.local_start, piece.logical_box.extent};
      const std::optional<Box> inside = Intersect(local, Box{move.dst_start, move.extent});
      if (!inside.has_value() || !(inside->extent == move.extent)) continue;
      const Box region = Translate(*inside, piece.local_start, piece.logical_box.start);
      for (int s = 0; s < participants->num_src; ++s) {
        if (participants->ranks[s].agent.agent_id() != receiver.agent.agent_id()) continue;
        for (const v1::ParameterSpec& tensor : participants->ranks[s].endpoint.parameters) {
          for (const TestPiece& held : TestPieces(tensor, participants->ranks[s].endpoint.spec)) {
            if (held.logical != piece.logical) continue;
            const std::optional<Box> common = Intersect(held.logical_box, region);
            INFO("sync rank " << move.dst_rank << " receives " << piece.logical << " "
                              << BoxString(region) << " from sync rank " << move.src_rank
                              << " though sync rank " << s << " on its agent holds it");
            CHECK(!(common.has_value() && common->extent == region.extent));
          }
        }
      }
    }
  }

  // The agents' work moves the same bytes.
  const TransferPlan transfer = BuildDirectTransferPlan(*participants, *moves);
  CHECK(transfer.wire_bytes == moves->dst_bytes);
  CHECK(transfer.dst_bytes == moves->dst_bytes);
}

TEST_CASE("Direct plans write every destination element exactly once with its logical value",
          "[reshard][property]") {
  std::mt19937_64 rng(kSeed);
  for (int i = 0; i < kCases; ++i) RunCase(rng, i);
}

}  // namespace
}  // namespace paramsync::coordinator
