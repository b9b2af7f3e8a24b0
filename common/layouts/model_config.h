// File: common/layouts/model_config.h
// -----------------------------------------------------------------------------
// A model's architecture (paramsync.v1.ModelConfig, the fields of a Hugging
// Face config.json that decide parameter shapes) with its defaults resolved
// and its values checked, and a few named configurations for tests, demos and
// benchmarks. Pure.
//
// Example:
//   ASSIGN_OR_RETURN(v1::ModelConfig proto, NamedModelConfig("qwen2-tiny"));
//   ASSIGN_OR_RETURN(ModelConfig model, ResolveModelConfig(proto, "layout.model"));
//   model.num_kv_heads;  // 2 (GQA), model.head_dim: 16
#ifndef PARAMSYNC_COMMON_LAYOUTS_MODEL_CONFIG_H_
#define PARAMSYNC_COMMON_LAYOUTS_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::layouts {

// v1::ModelConfig with num_key_value_heads, head_dim and dtype resolved.
struct ModelConfig {
  int64_t hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;  // Query groups: num_heads / num_kv_heads query heads each.
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool qk_norm = false;
  int num_experts = 0;
  int64_t moe_intermediate_size = 0;
  int64_t shared_expert_intermediate_size = 0;
  v1::DType dtype = v1::DTYPE_BFLOAT16;

  bool moe() const { return num_experts > 0; }
};

// Resolves and checks `proto`. INVALID_ARGUMENT naming the field (prefixed by
// `field`, e.g. "layout.model.num_key_value_heads") and the accepted values:
// sizes within bounds far above real models (which keep a hostile request from
// exhausting memory), num_key_value_heads dividing num_attention_heads,
// head_dim given when hidden_size is not a multiple of num_attention_heads,
// the MLP sizes the architecture needs.
absl::StatusOr<ModelConfig> ResolveModelConfig(const v1::ModelConfig& proto,
                                               absl::string_view field);

// Built-in configurations: "qwen2-tiny" (GQA 4/2 heads, QKV biases, vocab
// padded by every preset), "qwen2-tiny-tied" (its tied-embedding variant),
// "llama-tiny" (MHA), "qwen2-moe-tiny" (8 experts and a gated shared expert),
// "qwen3-moe-tiny" (8 experts, q/k norms), and the shapes of "qwen2.5-0.5b"
// and "qwen2.5-7b". INVALID_ARGUMENT listing them for another name.
absl::StatusOr<v1::ModelConfig> NamedModelConfig(absl::string_view name);

}  // namespace paramsync::layouts

#endif  // PARAMSYNC_COMMON_LAYOUTS_MODEL_CONFIG_H_
