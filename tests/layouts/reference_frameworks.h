// File: tests/layouts/reference_frameworks.h
// -----------------------------------------------------------------------------
// An independent reference for the layout presets (common/layouts/): a Hugging
// Face model whose every element has a distinct value, and each framework's
// rank tensors built from it the way the framework does it (Megatron-Core's
// checkpoint conversion: interleave q/k/v per query group, then split the
// fused tensor over TP; vLLM's weight loaders: each rank takes its heads, with
// key/value heads replicated past their count), written as plain loops that
// share no code with the presets. Tests apply the presets' pieces to the
// Hugging Face model and compare the result with these tensors, element by
// element.
#ifndef PARAMSYNC_TESTS_LAYOUTS_REFERENCE_FRAMEWORKS_H_
#define PARAMSYNC_TESTS_LAYOUTS_REFERENCE_FRAMEWORKS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "paramsync/v1/types.pb.h"

namespace paramsync::layouts::testing {

// A row-major tensor of element values; 0 is padding (no logical element).
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<uint64_t> values;
};
using Tensors = std::map<std::string, Tensor>;

// A model's architecture in plain numbers.
struct Arch {
  int64_t hidden = 0;
  int layers = 0;
  int heads = 0;
  int kv_heads = 0;
  int64_t head_dim = 0;
  int64_t ffn = 0;
  int64_t vocab = 0;
  bool tied = false;
  bool bias = false;
  bool qk_norm = false;
  int experts = 0;
  int64_t expert_ffn = 0;
  int64_t shared_ffn = 0;

  v1::ModelConfig Proto() const;
};

// Qwen2.5-7B's attention (28 query heads in 4 groups), scaled down (head_dim
// 8), with q/k/v biases and a 1000-row vocabulary that every preset pads.
Arch ScaledQwen25(int layers);

// A small MoE model: 8 routed experts of 32 rows, 4 query heads in 2 groups
// of head_dim 16, no biases, a 250-row vocabulary.
Arch SmallMoe();

// One rank: parallel sizes and ranks, and the layout options.
struct Rank {
  int tp = 1;
  int tp_rank = 0;
  int pp = 1;
  int pp_rank = 0;
  int ep = 1;
  int ep_rank = 0;
  int etp = 0;          // Expert TP; 0: the framework's default.
  int first_layer = 0;  // With num_layers > 0: an explicit stage range.
  int num_layers = 0;
  int64_t vocab_padding = 0;  // 0: the framework's default.
};

// The endpoint a rank registers with `preset`.
v1::EndpointSpec Endpoint(const std::string& preset, const Arch& arch, const Rank& rank);

// Every Hugging Face parameter of `arch`, element values distinct and nonzero.
Tensors HfModel(const Arch& arch);

// The tensors of a Megatron-Core GPT rank (`te_spec`: the Transformer Engine
// layer spec's names) and of a vLLM rank.
Tensors MegatronRank(const Arch& arch, const Tensors& hf, const Rank& rank, bool te_spec);
Tensors VllmRank(const Arch& arch, const Tensors& hf, const Rank& rank);

// Each spec's tensor, zero-filled, then every logical piece copied from `hf`
// (logical box -> local box).
Tensors ApplyPieces(const std::vector<v1::ParameterSpec>& specs, const Tensors& hf);

}  // namespace paramsync::layouts::testing

#endif  // PARAMSYNC_TESTS_LAYOUTS_REFERENCE_FRAMEWORKS_H_
