// File: bench/model_layout.h
// -----------------------------------------------------------------------------
// Transformer-shaped parameter sets for demos, benchmarks and tests, with
// deterministic contents: every process can compute the value any rank must hold
// for any version, so receivers check their bytes without talking to senders.
#ifndef PARAMSYNC_BENCH_MODEL_LAYOUT_H_
#define PARAMSYNC_BENCH_MODEL_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/endpoint.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::bench {

struct ModelShape {
  int layers = 2;
  int64_t hidden = 64;
  int64_t ffn = 128;
  int64_t vocab = 256;
  v1::DType dtype = v1::DTYPE_BFLOAT16;
  int64_t qkv_rows = 0;    // Rows of the fused QKV weight; 0: 3 x hidden (no GQA).
  bool qkv_bias = false;   // Qwen2 has QKV biases.
  int experts = 0;         // MoE: experts per layer (each with its own fc1 and fc2) ...
  int64_t expert_ffn = 0;  // ... of this intermediate size; the dense MLP is then absent.
  // MoE with the experts of a layer stacked into one fc1 and one fc2 tensor
  // ([experts, ...], vLLM's fused-MoE layout) and a router: routed-expert
  // weights that HEP syncs regroup.
  bool stacked_experts = false;
};

// Presets: "tiny" (a few KB, for bad-input tests), "small" (~2 MB),
// "reshard-small" (~1.3 MB, 6 layers, every split divisible by 2, 3 and 4),
// "transformer-100m" (~106 MB: hidden 768, ffn 2048, 4 layers, vocab 16000),
// "qwen2.5-7b" (Qwen2.5-7B's shapes: hidden 3584, ffn 18944, 28 layers, 28 heads
// with 4 KV heads of 128, vocab 152064; ~15.2 GB) and "moe-small-tensors"
// (3,000+ tensors under 1 MB: 24 layers of 64 experts), "moe-hep-small" (~1 MB,
// 2 layers of 8 stacked experts) and "moe-hep-medium" (~1.2 GB: 8 layers of 64
// stacked experts, hidden 1024, expert ffn 512) and "qwen3-30b-a3b" (~61 GB:
// Qwen3-30B-A3B-like, 48 layers of 128 stacked experts, hidden 2048, expert ffn
// 768), all bf16 but "tiny".
absl::StatusOr<ModelShape> ModelPreset(const std::string& name);

// One parameter of the full (unsharded) model.
struct ParameterLayout {
  std::string name;
  v1::DType dtype = v1::DTYPE_BFLOAT16;
  std::vector<int64_t> full_shape;
  std::optional<int> tp_split_dim;  // Column-parallel: 0; row-parallel: 1; none: replicated.
  std::optional<int> expert_dim;    // Stacked routed experts: the expert dimension.
};

// Which part of every full tensor one rank holds.
struct RankLayout {
  int tp_size = 1;
  int tp_rank = 0;
  // Routed experts: split into `expert_parts` blocks of experts, of which the
  // rank holds block `expert_part`, and split by TP along tp_split_dim only
  // where `experts_tp_split`. Trainer: ep blocks, TP-split. HEP inference:
  // tp blocks, whole (expert layout), or every expert, TP-split (TP layout).
  int expert_parts = 1;
  int expert_part = 0;
  bool experts_tp_split = true;
};

// Megatron-style layout: embedding and lm_head split on the vocab (dim 0), QKV
// and gate/up column-parallel (dim 0), attention output and down projection
// row-parallel (dim 1), norms replicated; stacked experts split on their own
// rows (fc1, dim 1) and columns (fc2, dim 2), routers replicated.
std::vector<ParameterLayout> TransformerParameters(const ModelShape& shape);

// The box of the full tensor a rank of `layout` holds.
struct ShardBox {
  std::vector<int64_t> start;
  std::vector<int64_t> extent;
};
ShardBox BoxOf(const ParameterLayout& parameter, const RankLayout& layout);

// The parameters pipeline stage `pp_rank` of `pp_size` holds: its consecutive
// share of the `layers` layers (names keep the global layer index), the
// embedding on the first stage, the final norm and output layer on the last.
std::vector<ParameterLayout> PipelineStage(const std::vector<ParameterLayout>& parameters,
                                           int layers, int pp_size, int pp_rank);

// Shape of the shard a rank of `layout` holds.
std::vector<int64_t> ShardShape(const ParameterLayout& parameter, const RankLayout& layout);

// The tensor declarations of one rank.
std::vector<client::TensorDecl> ShardDecls(const std::vector<ParameterLayout>& parameters,
                                           const RankLayout& layout);

uint64_t FullBytes(const ParameterLayout& parameter);

// The whole parameter `name` of `bytes` bytes at weights `version` (seeded by
// `seed`), as 8-byte words from a counter-based generator: every process
// derives the same values independently.
std::vector<uint64_t> FullTensorWords(const std::string& name, uint64_t bytes, uint64_t seed,
                                      int64_t version);

// Writes the bytes a rank of `layout` holds of `parameter` at weights `version`
// (seeded by `seed`) into `out`, which has exactly the shard's bytes (checked).
absl::Status FillShard(const ParameterLayout& parameter, uint64_t seed, int64_t version,
                       const RankLayout& layout, void* out, uint64_t out_bytes);

}  // namespace paramsync::bench

#endif  // PARAMSYNC_BENCH_MODEL_LAYOUT_H_
