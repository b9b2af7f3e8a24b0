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
};

// Presets: "tiny" (a few KB, for bad-input tests), "small" (~2 MB),
// "transformer-100m" (~106 MB: hidden 768, ffn 2048, 4 layers, vocab 16000),
// "qwen2.5-7b" (Qwen2.5-7B's shapes: hidden 3584, ffn 18944, 28 layers, 28 heads
// with 4 KV heads of 128, vocab 152064; ~15.2 GB) and "moe-small-tensors"
// (3,000+ tensors under 1 MB: 24 layers of 64 experts), all bf16 but "tiny".
absl::StatusOr<ModelShape> ModelPreset(const std::string& name);

// One parameter of the full (unsharded) model.
struct ParameterLayout {
  std::string name;
  v1::DType dtype = v1::DTYPE_BFLOAT16;
  std::vector<int64_t> full_shape;
  std::optional<int> tp_split_dim;  // Column-parallel: 0; row-parallel: 1; none: replicated.
};

// Megatron-style layout: embedding and lm_head split on the vocab (dim 0), QKV
// and gate/up column-parallel (dim 0), attention output and down projection
// row-parallel (dim 1), norms replicated.
std::vector<ParameterLayout> TransformerParameters(const ModelShape& shape);

// Shape of the shard that TP rank `tp_rank` of `tp_size` holds.
std::vector<int64_t> ShardShape(const ParameterLayout& parameter, int tp_size);

// The tensor declarations of one rank of a TP-`tp_size` model.
std::vector<client::TensorDecl> ShardDecls(const std::vector<ParameterLayout>& parameters,
                                           int tp_size);

uint64_t FullBytes(const ParameterLayout& parameter);

// Writes the bytes that TP rank `tp_rank` of `tp_size` holds of `parameter` at
// weights `version` (seeded by `seed`) into `out`, which has exactly the shard's
// bytes (checked).
absl::Status FillShard(const ParameterLayout& parameter, uint64_t seed, int64_t version,
                       int tp_size, int tp_rank, void* out, uint64_t out_bytes);

}  // namespace paramsync::bench

#endif  // PARAMSYNC_BENCH_MODEL_LAYOUT_H_
