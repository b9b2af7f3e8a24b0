// Megatron-Core and vLLM layouts of one model at different parallelism cover
// the same logical elements: every element of every logical parameter a vLLM
// rank holds is held by exactly one Megatron-Core TP rank of a data-parallel
// replica (every TP rank for replicated norms and routers; routed experts by
// one rank of the EP group, everything else once per EP rank, as the EP ranks
// are data-parallel replicas of it), so a sync can take each byte from one
// source.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/layouts/expand_layout.h"
#include "tests/layouts/reference_frameworks.h"

namespace paramsync::layouts {
namespace {

using testing::Arch;
using testing::Rank;

// How many times each element of each logical parameter is held.
using Coverage = std::map<std::string, std::vector<int>>;

void AddPieces(const std::vector<v1::ParameterSpec>& specs, Coverage& coverage) {
  for (const v1::ParameterSpec& spec : specs) {
    for (const v1::LogicalPiece& piece : spec.logical()) {
      const int rank = piece.logical_shape_size();
      int64_t elements = 1;
      for (int64_t d : piece.logical_shape()) elements *= d;
      std::vector<int>& counts = coverage[piece.logical_name()];
      counts.resize(elements, 0);
      std::vector<int64_t> index(rank, 0);
      int64_t box = 1;
      for (int64_t d : piece.logical_box().extent()) box *= d;
      for (int64_t n = 0; n < box; ++n) {
        int64_t flat = 0;
        for (int d = 0; d < rank; ++d) {
          flat = flat * piece.logical_shape(d) + piece.logical_box().start(d) + index[d];
        }
        ++counts[flat];
        for (int d = rank - 1; d >= 0 && ++index[d] == piece.logical_box().extent(d); --d) {
          index[d] = 0;
        }
      }
    }
  }
}

// Every rank of one replica of `preset` at `layout` (tp, pp and ep sizes).
Coverage CoverageOf(const std::string& preset, const Arch& arch, Rank layout) {
  Coverage coverage;
  for (layout.pp_rank = 0; layout.pp_rank < layout.pp; ++layout.pp_rank) {
    for (layout.ep_rank = 0; layout.ep_rank < layout.ep; ++layout.ep_rank) {
      for (layout.tp_rank = 0; layout.tp_rank < layout.tp; ++layout.tp_rank) {
        absl::StatusOr<std::vector<v1::ParameterSpec>> specs =
            ExpandLayout(testing::Endpoint(preset, arch, layout));
        INFO(specs.status().ToString());
        REQUIRE(specs.ok());
        AddPieces(*specs, coverage);
      }
    }
  }
  return coverage;
}

void CheckRoundTrip(const Arch& arch, const Rank& megatron, const Rank& vllm) {
  const Coverage sources = CoverageOf("megatron-core-gpt", arch, megatron);
  const Coverage destinations = CoverageOf("vllm", arch, vllm);
  REQUIRE(sources.size() == destinations.size());
  for (const auto& [name, held] : destinations) {
    INFO(name);
    REQUIRE(sources.count(name) == 1);
    const std::vector<int>& sent = sources.at(name);
    REQUIRE(sent.size() == held.size());
    // Norms, routers and the shared-expert gate are whole on every TP rank.
    const bool replicated = absl::EndsWith(name, "norm.weight") ||
                            absl::EndsWith(name, "mlp.gate.weight") ||
                            absl::EndsWith(name, "shared_expert_gate.weight");
    const int replicas = (replicated ? megatron.tp : 1) *
                         (absl::StrContains(name, ".mlp.experts.") ? 1 : megatron.ep);
    int64_t wrong = 0, missing = 0;
    for (size_t i = 0; i < held.size(); ++i) {
      wrong += sent[i] != replicas;
      missing += held[i] < 1;
    }
    CHECK(wrong == 0);
    CHECK(missing == 0);
  }
}

TEST_CASE("Megatron TP2 x PP2 and vLLM TP4 hold the same logical elements", "[layouts]") {
  CheckRoundTrip(testing::ScaledQwen25(4), Rank{2, 0, 2}, Rank{4});
}

TEST_CASE("Megatron TP2 and vLLM TP8 with replicated KV heads hold the same logical elements",
          "[layouts]") {
  Arch a = testing::ScaledQwen25(4);
  a.heads = 32;
  a.hidden = 256;
  CheckRoundTrip(a, Rank{2}, Rank{8});
}

TEST_CASE("Megatron TP2 x EP2 and vLLM TP4 (and EP4) MoE hold the same logical elements",
          "[layouts]") {
  Arch a = testing::SmallMoe();
  a.bias = true;
  a.shared_ffn = 64;
  Rank megatron{2};
  megatron.ep = 2;
  CheckRoundTrip(a, megatron, Rank{4});
  // vLLM with expert parallelism: each rank's EP rank is its TP rank.
  const Coverage whole_experts = [&] {
    Coverage coverage;
    for (int r = 0; r < 4; ++r) {
      Rank rank{4, r, 1, 0, 4, r};
      absl::StatusOr<std::vector<v1::ParameterSpec>> specs =
          ExpandLayout(testing::Endpoint("vllm", a, rank));
      REQUIRE(specs.ok());
      AddPieces(*specs, coverage);
    }
    return coverage;
  }();
  for (const auto& [name, held] : whole_experts) {
    if (!absl::StrContains(name, ".mlp.experts.")) continue;
    INFO(name);
    for (int count : held) REQUIRE(count == 1);  // Each expert on exactly one rank.
  }
}

}  // namespace
}  // namespace paramsync::layouts
