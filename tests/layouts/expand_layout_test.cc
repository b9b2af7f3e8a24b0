// ExpandLayout against the reference frameworks (reference_frameworks.h): for
// each preset, model and rank, the presets' pieces applied to a Hugging Face
// model with distinct element values must give exactly the tensors (names,
// shapes, every element, zero padding) that Megatron-Core's and vLLM's own
// sharding gives.
#include "common/layouts/expand_layout.h"

#include <catch2/catch.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/layouts/model_config.h"
#include "tests/layouts/reference_frameworks.h"

namespace paramsync::layouts {
namespace {

using testing::Arch;
using testing::Rank;
using testing::Tensors;

std::string Describe(const std::string& preset, const Rank& r) {
  std::ostringstream out;
  out << preset << " tp " << r.tp_rank << "/" << r.tp << " pp " << r.pp_rank << "/" << r.pp
      << " ep " << r.ep_rank << "/" << r.ep << " etp " << r.etp;
  return out.str();
}

std::set<std::string> Names(const Tensors& tensors) {
  std::set<std::string> names;
  for (const auto& [name, tensor] : tensors) names.insert(name);
  return names;
}

// The pieces of `preset` for `rank`, applied to `hf`, equal `reference`.
void CheckRank(const std::string& preset, const Arch& arch, const Rank& rank,
               const Tensors& reference, const Tensors& hf) {
  INFO(Describe(preset, rank));
  absl::StatusOr<std::vector<v1::ParameterSpec>> specs =
      ExpandLayout(testing::Endpoint(preset, arch, rank));
  INFO(specs.status().ToString());
  REQUIRE(specs.ok());
  for (const v1::ParameterSpec& spec : *specs) {
    INFO(spec.name());
    CHECK(!spec.logical().empty());
    for (const v1::LogicalPiece& piece : spec.logical()) {
      INFO(piece.logical_name());
      REQUIRE(hf.count(piece.logical_name()) == 1);
    }
  }
  const Tensors applied = testing::ApplyPieces(*specs, hf);
  REQUIRE(Names(applied) == Names(reference));
  for (const auto& [name, expected] : reference) {
    INFO(name);
    const testing::Tensor& actual = applied.at(name);
    REQUIRE(actual.shape == expected.shape);
    size_t differing = 0;
    for (size_t i = 0; i < expected.values.size(); ++i) {
      differing += actual.values[i] != expected.values[i];
    }
    CHECK(differing == 0);
  }
}

// Every rank of a TP x PP x EP layout.
void CheckAllRanks(const std::string& preset, const Arch& arch, Rank rank) {
  const Tensors hf = testing::HfModel(arch);
  for (rank.pp_rank = 0; rank.pp_rank < rank.pp; ++rank.pp_rank) {
    for (rank.ep_rank = 0; rank.ep_rank < rank.ep; ++rank.ep_rank) {
      for (rank.tp_rank = 0; rank.tp_rank < rank.tp; ++rank.tp_rank) {
        const Tensors reference =
            preset == "vllm" ? testing::VllmRank(arch, hf, rank)
                             : testing::MegatronRank(arch, hf, rank, preset == "megatron-core-gpt");
        CheckRank(preset, arch, rank, reference, hf);
      }
    }
  }
}

void CheckError(const v1::EndpointSpec& endpoint, const std::string& needle) {
  absl::StatusOr<std::vector<v1::ParameterSpec>> specs = ExpandLayout(endpoint);
  INFO(specs.status().ToString());
  REQUIRE(specs.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(specs.status().message()).find(needle) != std::string::npos);
}

Arch Gqa28() { return testing::ScaledQwen25(2); }

const char* const kMegatronPresets[] = {"megatron-core-gpt", "megatron-core-gpt-local"};

TEST_CASE("Megatron-Core's interleaved QKV with GQA 28/4 at TP 1, 2 and 4", "[layouts]") {
  for (const char* preset : kMegatronPresets) {
    for (int tp : {1, 2, 4}) CheckAllRanks(preset, Gqa28(), Rank{tp});
  }
}

TEST_CASE("vLLM's [q | k | v] with GQA 28/4 at TP 1, 2 and 4", "[layouts]") {
  for (int tp : {1, 2, 4}) CheckAllRanks("vllm", Gqa28(), Rank{tp});
}

TEST_CASE("28 heads at TP 8: both frameworks refuse, naming the field", "[layouts]") {
  CheckError(testing::Endpoint("megatron-core-gpt", Gqa28(), Rank{8}),
             "endpoint.layout.model.num_key_value_heads is 4, which tp_size 8 does not divide");
  CheckError(testing::Endpoint("vllm", Gqa28(), Rank{8}),
             "endpoint.layout.model.num_attention_heads is 28, which tp_size 8 does not divide");
}

TEST_CASE("vLLM replicates key/value heads when TP exceeds them", "[layouts]") {
  Arch a = Gqa28();
  a.heads = 32;
  a.hidden = 256;
  CheckAllRanks("vllm", a, Rank{8});  // Each KV head on 2 ranks.
  CheckAllRanks("megatron-core-gpt", a, Rank{4});
  a.heads = 16;
  a.kv_heads = 2;
  a.hidden = 128;
  CheckAllRanks("vllm", a, Rank{8});  // Each KV head on 4 ranks.
  a.kv_heads = 3;
  a.heads = 24;
  CheckError(testing::Endpoint("vllm", a, Rank{8}),
             "num_key_value_heads is 3 and tp_size 8; accepted: tp_size a multiple or a divisor");
}

TEST_CASE("MHA (num_key_value_heads 0) without biases", "[layouts]") {
  Arch a = Gqa28();
  a.heads = a.kv_heads = 4;
  a.head_dim = 56;
  a.bias = false;
  for (int tp : {1, 2, 4}) {
    CheckAllRanks("vllm", a, Rank{tp});
    CheckAllRanks("megatron-core-gpt", a, Rank{tp});
  }
  v1::EndpointSpec explicit_heads = testing::Endpoint("megatron-core-gpt", a, Rank{2, 1});
  v1::EndpointSpec default_heads = explicit_heads;
  default_heads.mutable_layout()->mutable_model()->set_num_key_value_heads(0);
  default_heads.mutable_layout()->mutable_model()->set_head_dim(0);
  absl::StatusOr<std::vector<v1::ParameterSpec>> a_specs = ExpandLayout(explicit_heads);
  absl::StatusOr<std::vector<v1::ParameterSpec>> b_specs = ExpandLayout(default_heads);
  REQUIRE(a_specs.ok());
  REQUIRE(b_specs.ok());
  REQUIRE(a_specs->size() == b_specs->size());
  for (size_t i = 0; i < a_specs->size(); ++i) {
    CHECK((*a_specs)[i].SerializeAsString() == (*b_specs)[i].SerializeAsString());
  }
}

TEST_CASE("Pipeline stages: Megatron renumbers each stage's layers from 0, vLLM keeps them",
          "[layouts]") {
  Arch a = Gqa28();
  a.layers = 4;
  for (int pp : {2, 4}) {
    for (const char* preset : {"megatron-core-gpt", "vllm"}) {
      Rank rank{2};
      rank.pp = pp;
      CheckAllRanks(preset, a, rank);
    }
  }
  // An uneven split, given explicitly: layers [0, 3) and [3, 5).
  a.layers = 5;
  for (const char* preset : {"megatron-core-gpt", "vllm"}) {
    const Tensors hf = testing::HfModel(a);
    for (auto [pp_rank, first, count] : {std::tuple{0, 0, 3}, {1, 3, 2}}) {
      Rank rank{2, 1, 2, pp_rank};
      rank.first_layer = first;
      rank.num_layers = count;
      CheckRank(preset, a, rank,
                std::string(preset) == "vllm" ? testing::VllmRank(a, hf, rank)
                                              : testing::MegatronRank(a, hf, rank, true),
                hf);
    }
  }
  Rank rank{1, 0, 2, 0};
  CheckError(testing::Endpoint("vllm", a, rank),
             "num_hidden_layers 5 is not a multiple of pp_size 2; accepted: first_layer and "
             "num_layers");
  rank.first_layer = 3;
  rank.num_layers = 3;
  CheckError(testing::Endpoint("vllm", a, rank),
             "endpoint.layout.first_layer 3 and num_layers 3 are not a range of the model's 5");
}

TEST_CASE("Vocabulary padding: padded rows map to no logical element", "[layouts]") {
  Arch a = Gqa28();
  for (int64_t padding : {8, 100}) {
    for (const char* preset : {"megatron-core-gpt", "vllm"}) {
      Rank rank{4};
      rank.vocab_padding = padding;
      CheckAllRanks(preset, a, rank);
    }
  }
  // Megatron pads 250 rows to 1024 at TP 8: ranks 2 to 7 would hold padding only.
  a = testing::SmallMoe();
  a.heads = 8;
  a.kv_heads = 8;
  a.head_dim = 8;
  a.experts = 0;
  a.ffn = 64;
  CheckError(testing::Endpoint("megatron-core-gpt", a, Rank{8, 2}),
             "vocab_size 250 padded to 1024 leaves TP rank 2 of 8 only padding rows");
  CheckAllRanks("megatron-core-gpt", a, Rank{8, 0, 1, 0, 1, 0, 0, 0, 0, 8});  // vocab_padding 8.
  CheckError(testing::Endpoint("vllm", a, Rank{8, 0, 1, 0, 1, 0, 0, 0, 0, 50}),
             "vocab_size 250 padded to a multiple of 50 is 250, which tp_size 8 does not divide");
}

TEST_CASE("Tied embeddings: one logical parameter, held by the first and last stages",
          "[layouts]") {
  Arch a = Gqa28();
  a.tied = true;
  a.layers = 4;
  for (int pp : {1, 2}) {
    for (const char* preset : {"megatron-core-gpt", "vllm"}) {
      Rank rank{2};
      rank.pp = pp;
      CheckAllRanks(preset, a, rank);
    }
  }
}

TEST_CASE("MoE: routers replicated, experts stacked by EP rank and split by expert TP",
          "[layouts]") {
  Arch qwen2_moe = testing::SmallMoe();
  qwen2_moe.bias = true;
  qwen2_moe.shared_ffn = 64;
  Arch qwen3_moe = testing::SmallMoe();
  qwen3_moe.qk_norm = true;
  qwen3_moe.head_dim = 32;
  qwen3_moe.tied = true;
  for (const Arch& a : {qwen2_moe, qwen3_moe}) {
    for (int ep : {1, 2, 4}) {
      for (const char* preset : kMegatronPresets) {
        Rank rank{2};
        rank.ep = ep;
        CheckAllRanks(preset, a, rank);  // Expert TP = TP.
        rank.etp = 1;
        CheckAllRanks(preset, a, rank);
      }
    }
    CheckAllRanks("vllm", a, Rank{4});  // Every expert, split by TP.
    for (int ep : {2, 4}) {
      // vLLM's expert parallelism: EP rank = TP rank, whole experts.
      for (int tp_rank = 0; tp_rank < ep; ++tp_rank) {
        Rank rank{ep, tp_rank, 1, 0, ep, tp_rank};
        const Tensors hf = testing::HfModel(a);
        CheckRank("vllm", a, rank, testing::VllmRank(a, hf, rank), hf);
      }
    }
  }
  CheckError(testing::Endpoint("vllm", qwen2_moe, Rank{1, 0, 1, 0, 3, 0}),
             "endpoint.layout.model.num_experts is 8, which ep_size 3 does not divide");
}

TEST_CASE("The hf preset holds every parameter whole under its own name", "[layouts]") {
  Arch a = testing::SmallMoe();
  a.shared_ffn = 32;
  const Tensors hf = testing::HfModel(a);
  CheckRank("hf", a, Rank{}, hf, hf);
  CheckError(testing::Endpoint("hf", a, Rank{2}),
             "endpoint.parallel.tp_size/pp_size/ep_size are 2/1/1 with endpoint.layout.preset hf; "
             "accepted: 1/1/1");
}

TEST_CASE("Every named model config expands for both frameworks at TP 2", "[layouts]") {
  for (const char* name : {"qwen2-tiny", "qwen2-tiny-tied", "llama-tiny", "qwen2-moe-tiny",
                           "qwen3-moe-tiny", "qwen2.5-0.5b", "qwen2.5-7b"}) {
    INFO(name);
    absl::StatusOr<v1::ModelConfig> model = NamedModelConfig(name);
    REQUIRE(model.ok());
    for (const char* preset : {"megatron-core-gpt", "vllm"}) {
      v1::EndpointSpec endpoint = testing::Endpoint(preset, testing::Arch{}, Rank{2, 1});
      *endpoint.mutable_layout()->mutable_model() = *model;
      absl::StatusOr<std::vector<v1::ParameterSpec>> specs = ExpandLayout(endpoint);
      INFO(specs.status().ToString());
      CHECK(specs.ok());
    }
  }
  CHECK(NamedModelConfig("gpt2").status().message() ==
        "model config 'gpt2' is unknown; accepted: qwen2-tiny, qwen2-tiny-tied, llama-tiny, "
        "qwen2-moe-tiny, qwen3-moe-tiny, qwen2.5-0.5b, qwen2.5-7b");
}

TEST_CASE("Layout errors name the field and what is accepted", "[layouts]") {
  Arch a = Gqa28();
  CheckError(testing::Endpoint("megatron", a, Rank{}),
             "endpoint.layout.preset is 'megatron'; accepted: megatron-core-gpt, "
             "megatron-core-gpt-local, vllm, hf");
  v1::EndpointSpec endpoint = testing::Endpoint("vllm", a, Rank{});
  endpoint.mutable_layout()->mutable_model()->set_num_key_value_heads(5);
  CheckError(endpoint,
             "endpoint.layout.model.num_key_value_heads is 5; accepted: a divisor of "
             "endpoint.layout.model.num_attention_heads = 28");
  endpoint = testing::Endpoint("vllm", a, Rank{});
  endpoint.mutable_layout()->mutable_model()->set_hidden_size(0);
  CheckError(endpoint, "endpoint.layout.model.hidden_size is 0; accepted: 1 to 1048576");
  endpoint = testing::Endpoint("vllm", a, Rank{});
  endpoint.mutable_layout()->mutable_model()->set_intermediate_size(0);
  CheckError(endpoint, "intermediate_size is 0; accepted: 1 to 4194304 (a dense model");
  endpoint = testing::Endpoint("vllm", a, Rank{});
  endpoint.mutable_parallel()->set_tp_rank(1);
  CheckError(endpoint, "endpoint.parallel.tp_rank is 1; accepted: 0 to tp_size-1 = 0");
  // Bounded before anything is listed: a request cannot make the coordinator
  // expand millions of tensors.
  Arch huge = testing::SmallMoe();
  huge.layers = 1024;
  huge.experts = 512;
  CheckError(testing::Endpoint("megatron-core-gpt", huge, Rank{}),
             "this rank would hold 1024 layers of 512 routed experts; accepted: at most 65536");
  huge.experts = 513;
  CheckError(testing::Endpoint("vllm", huge, Rank{}),
             "endpoint.layout.model.num_experts is 513; accepted: 0 to 512");
  endpoint = testing::Endpoint("megatron-core-gpt", testing::SmallMoe(), Rank{2});
  endpoint.mutable_layout()->set_expert_tp_size(4);
  CheckError(endpoint,
             "endpoint.layout.expert_tp_size is 4; accepted: 0 (the preset's default) "
             "or a divisor of endpoint.parallel.tp_size 2");
}

}  // namespace
}  // namespace paramsync::layouts
