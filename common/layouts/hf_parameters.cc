#include "common/layouts/hf_parameters.h"

namespace paramsync::layouts {

std::vector<HfParameter> HfParameters(const ModelConfig& m) {
  const int64_t h = m.hidden_size;
  const int64_t q_rows = m.num_heads * m.head_dim;
  const int64_t kv_rows = m.num_kv_heads * m.head_dim;
  std::vector<HfParameter> out;
  const auto layer = [&out](const std::string& name, Shape shape) {
    out.push_back({"model.layers.{L}." + name, std::move(shape), Placement::kLayer});
  };
  out.push_back({"model.embed_tokens.weight", {m.vocab_size, h}, Placement::kFirstStage});
  layer("input_layernorm.weight", {h});
  layer("self_attn.q_proj.weight", {q_rows, h});
  layer("self_attn.k_proj.weight", {kv_rows, h});
  layer("self_attn.v_proj.weight", {kv_rows, h});
  if (m.attention_bias) {
    layer("self_attn.q_proj.bias", {q_rows});
    layer("self_attn.k_proj.bias", {kv_rows});
    layer("self_attn.v_proj.bias", {kv_rows});
  }
  layer("self_attn.o_proj.weight", {h, q_rows});
  if (m.qk_norm) {
    layer("self_attn.q_norm.weight", {m.head_dim});
    layer("self_attn.k_norm.weight", {m.head_dim});
  }
  layer("post_attention_layernorm.weight", {h});
  if (!m.moe()) {
    layer("mlp.gate_proj.weight", {m.intermediate_size, h});
    layer("mlp.up_proj.weight", {m.intermediate_size, h});
    layer("mlp.down_proj.weight", {h, m.intermediate_size});
  } else {
    layer("mlp.gate.weight", {m.num_experts, h});
    const int64_t ffn = m.moe_intermediate_size;
    for (const auto& [name, shape] : {std::pair<const char*, Shape>{"gate_proj", {ffn, h}},
                                      {"up_proj", {ffn, h}},
                                      {"down_proj", {h, ffn}}}) {
      out.push_back({std::string("model.layers.{L}.mlp.experts.{E}.") + name + ".weight", shape,
                     Placement::kExpert});
    }
    if (const int64_t shared = m.shared_expert_intermediate_size; shared > 0) {
      layer("mlp.shared_expert.gate_proj.weight", {shared, h});
      layer("mlp.shared_expert.up_proj.weight", {shared, h});
      layer("mlp.shared_expert.down_proj.weight", {h, shared});
      layer("mlp.shared_expert_gate.weight", {1, h});
    }
  }
  out.push_back({"model.norm.weight", {h}, Placement::kLastStage});
  if (!m.tie_word_embeddings) {
    out.push_back({"lm_head.weight", {m.vocab_size, h}, Placement::kLastStage});
  }
  return out;
}

}  // namespace paramsync::layouts
