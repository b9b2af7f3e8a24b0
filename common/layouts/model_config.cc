#include "common/layouts/model_config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/dtype.h"

namespace paramsync::layouts {
namespace {

// INVALID_ARGUMENT unless `low <= value <= high`.
absl::Status CheckRange(absl::string_view field, absl::string_view name, int64_t value, int64_t low,
                        int64_t high) {
  if (value < low || value > high) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".", name, " is ", value, "; accepted: ", low, " to ", high));
  }
  return absl::OkStatus();
}

// Most logical pieces one tensor may carry (the coordinator's bound): a
// Megatron QKV shard has 3 per query group, vLLM's fused experts 2 per expert.
constexpr int64_t kMaxQueryGroups = 256;
constexpr int64_t kMaxExperts = 512;

v1::ModelConfig Config(int64_t hidden, int layers, int heads, int kv_heads, int64_t intermediate,
                       int64_t vocab) {
  v1::ModelConfig c;
  c.set_hidden_size(hidden);
  c.set_num_hidden_layers(layers);
  c.set_num_attention_heads(heads);
  c.set_num_key_value_heads(kv_heads);
  c.set_intermediate_size(intermediate);
  c.set_vocab_size(vocab);
  return c;
}

}  // namespace

absl::StatusOr<ModelConfig> ResolveModelConfig(const v1::ModelConfig& proto,
                                               absl::string_view field) {
  ModelConfig m;
  for (absl::Status status : {
           CheckRange(field, "hidden_size", proto.hidden_size(), 1, 1 << 20),
           CheckRange(field, "num_hidden_layers", proto.num_hidden_layers(), 1, 1024),
           CheckRange(field, "num_attention_heads", proto.num_attention_heads(), 1, 4096),
           CheckRange(field, "num_key_value_heads", proto.num_key_value_heads(), 0,
                      kMaxQueryGroups),
           CheckRange(field, "head_dim", proto.head_dim(), 0, 1 << 16),
           CheckRange(field, "vocab_size", proto.vocab_size(), 1, 1 << 24),
           CheckRange(field, "num_experts", proto.num_experts(), 0, kMaxExperts),
           CheckRange(field, "shared_expert_intermediate_size",
                      proto.shared_expert_intermediate_size(), 0, 1 << 22),
       }) {
    if (!status.ok()) return status;
  }
  m.hidden_size = proto.hidden_size();
  m.num_layers = proto.num_hidden_layers();
  m.num_heads = proto.num_attention_heads();
  m.num_kv_heads = proto.num_key_value_heads() > 0 ? proto.num_key_value_heads() : m.num_heads;
  if (m.num_kv_heads > kMaxQueryGroups) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".num_key_value_heads is 0, which means num_attention_heads = ", m.num_heads,
        "; accepted: at most ", kMaxQueryGroups, " key/value heads (set it)"));
  }
  if (m.num_heads % m.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".num_key_value_heads is ", m.num_kv_heads, "; accepted: a divisor of ", field,
        ".num_attention_heads = ", m.num_heads, " (each query group has as many query heads)"));
  }
  m.head_dim = proto.head_dim();
  if (m.head_dim == 0) {
    if (m.hidden_size % m.num_heads != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".head_dim is 0 (hidden_size / num_attention_heads) but hidden_size ",
          m.hidden_size, " is not a multiple of num_attention_heads ", m.num_heads,
          "; accepted: head_dim given, or hidden_size a multiple of num_attention_heads"));
    }
    m.head_dim = m.hidden_size / m.num_heads;
  }
  m.vocab_size = proto.vocab_size();
  m.tie_word_embeddings = proto.tie_word_embeddings();
  m.attention_bias = proto.attention_bias();
  m.qk_norm = proto.qk_norm();
  m.num_experts = proto.num_experts();
  m.shared_expert_intermediate_size = proto.shared_expert_intermediate_size();
  if (m.moe()) {
    absl::Status status =
        CheckRange(field, "moe_intermediate_size", proto.moe_intermediate_size(), 1, 1 << 22);
    if (!status.ok()) return status;
    m.moe_intermediate_size = proto.moe_intermediate_size();
  } else {
    absl::Status status =
        CheckRange(field, "intermediate_size", proto.intermediate_size(), 1, 1 << 22);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(status.message(), " (a dense model, num_experts 0, needs it)"));
    }
    m.intermediate_size = proto.intermediate_size();
  }
  if (proto.dtype() != v1::DTYPE_UNSPECIFIED) {
    if (DTypeSize(proto.dtype()) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".dtype is ", proto.dtype(), "; accepted: a DType value (unspecified: bfloat16)"));
    }
    m.dtype = proto.dtype();
  }
  return m;
}

absl::StatusOr<v1::ModelConfig> NamedModelConfig(absl::string_view name) {
  if (name == "qwen2-tiny" || name == "qwen2-tiny-tied") {
    // Vocabulary 250: padded by Megatron (128 x TP) and vLLM (64) alike.
    v1::ModelConfig c = Config(64, 4, 4, 2, 96, 250);
    c.set_attention_bias(true);
    c.set_tie_word_embeddings(name == "qwen2-tiny-tied");
    return c;
  }
  if (name == "llama-tiny") return Config(64, 2, 4, 0, 96, 256);
  if (name == "qwen2-moe-tiny") {
    v1::ModelConfig c = Config(64, 2, 4, 2, 0, 250);
    c.set_attention_bias(true);
    c.set_num_experts(8);
    c.set_moe_intermediate_size(32);
    c.set_shared_expert_intermediate_size(64);
    return c;
  }
  if (name == "qwen3-moe-tiny") {
    v1::ModelConfig c = Config(64, 2, 4, 2, 0, 256);
    c.set_head_dim(32);
    c.set_qk_norm(true);
    c.set_num_experts(8);
    c.set_moe_intermediate_size(32);
    return c;
  }
  if (name == "qwen2.5-0.5b") {
    v1::ModelConfig c = Config(896, 24, 14, 2, 4864, 151936);
    c.set_attention_bias(true);
    c.set_tie_word_embeddings(true);
    return c;
  }
  if (name == "qwen2.5-7b") {
    v1::ModelConfig c = Config(3584, 28, 28, 4, 18944, 152064);
    c.set_attention_bias(true);
    return c;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("model config '", name, "' is unknown; accepted: ",
                   absl::StrJoin({"qwen2-tiny", "qwen2-tiny-tied", "llama-tiny", "qwen2-moe-tiny",
                                  "qwen3-moe-tiny", "qwen2.5-0.5b", "qwen2.5-7b"},
                                 ", ")));
}

}  // namespace paramsync::layouts
