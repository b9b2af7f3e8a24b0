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
};

// Presets: "tiny" (a few KB, for bad-input tests), "small" (~2 MB), and
// "transformer-100m" (~106 MB: hidden 768, ffn 2048, 4 layers, vocab 16000, bf16).
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
