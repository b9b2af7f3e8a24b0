#include "common/layouts/presets.h"

#include "absl/strings/str_cat.h"

namespace paramsync::layouts {
namespace {

constexpr char kLayer[] = "model.layers.{L}.";

// "model.layers.{L}." + each of `names`.
std::vector<std::string> LayerParams(std::initializer_list<std::string> names) {
  std::vector<std::string> out;
  for (const std::string& name : names) out.push_back(absl::StrCat(kLayer, name));
  return out;
}

// The q, k and v projections' "weight" or "bias".
std::vector<std::string> Qkv(const std::string& kind) {
  return LayerParams(
      {"self_attn.q_proj." + kind, "self_attn.k_proj." + kind, "self_attn.v_proj." + kind});
}

// Megatron-Core GPT (Llama / Qwen2 / Qwen3, dense and MoE). `te_spec`: the
// Transformer Engine layer spec, whose linear_qkv and (dense) linear_fc1 carry
// the input norms; else the local spec's separate norms. Layers and experts are
// numbered from 0 on each pipeline stage and EP rank; routed experts are
// SequentialMLP's local_experts.
std::vector<TensorRule> MegatronRules(bool te_spec) {
  const std::string layer = "decoder.layers.{L}.";
  const std::string attn = layer + "self_attention.";
  std::vector<TensorRule> rules{
      {"embedding.word_embeddings.weight",
       Shard::kVocab,
       {"model.embed_tokens.weight"},
       Placement::kFirstStage},
  };
  if (te_spec) {
    rules.push_back({attn + "linear_qkv.layer_norm_weight", Shard::kReplicated,
                     LayerParams({"input_layernorm.weight"}), Placement::kLayer});
  } else {
    rules.push_back({layer + "input_layernorm.weight", Shard::kReplicated,
                     LayerParams({"input_layernorm.weight"}), Placement::kLayer});
  }
  const std::vector<TensorRule> attention_and_mlp{
      {attn + "linear_qkv.weight", Shard::kMegatronQkv, Qkv("weight"), Placement::kLayer},
      {attn + "linear_qkv.bias", Shard::kMegatronQkv, Qkv("bias"), Placement::kLayer},
      {attn + "q_layernorm.weight", Shard::kReplicated, LayerParams({"self_attn.q_norm.weight"}),
       Placement::kLayer},
      {attn + "k_layernorm.weight", Shard::kReplicated, LayerParams({"self_attn.k_norm.weight"}),
       Placement::kLayer},
      {attn + "linear_proj.weight", Shard::kRowParallel, LayerParams({"self_attn.o_proj.weight"}),
       Placement::kLayer},
      {te_spec ? layer + "mlp.linear_fc1.layer_norm_weight" : layer + "pre_mlp_layernorm.weight",
       Shard::kReplicated, LayerParams({"post_attention_layernorm.weight"}), Placement::kLayer,
       When::kDense},
      {layer + "pre_mlp_layernorm.weight", Shard::kReplicated,
       LayerParams({"post_attention_layernorm.weight"}), Placement::kLayer, When::kMoe},
      {layer + "mlp.linear_fc1.weight", Shard::kGateUp,
       LayerParams({"mlp.gate_proj.weight", "mlp.up_proj.weight"}), Placement::kLayer},
      {layer + "mlp.linear_fc2.weight", Shard::kRowParallel, LayerParams({"mlp.down_proj.weight"}),
       Placement::kLayer},
      {layer + "mlp.router.weight", Shard::kReplicated, LayerParams({"mlp.gate.weight"}),
       Placement::kLayer},
      {layer + "mlp.experts.local_experts.{E}.linear_fc1.weight", Shard::kGateUp,
       LayerParams({"mlp.experts.{E}.gate_proj.weight", "mlp.experts.{E}.up_proj.weight"}),
       Placement::kExpert},
      {layer + "mlp.experts.local_experts.{E}.linear_fc2.weight", Shard::kRowParallel,
       LayerParams({"mlp.experts.{E}.down_proj.weight"}), Placement::kExpert},
      {layer + "mlp.shared_experts.linear_fc1.weight", Shard::kGateUp,
       LayerParams({"mlp.shared_expert.gate_proj.weight", "mlp.shared_expert.up_proj.weight"}),
       Placement::kLayer},
      {layer + "mlp.shared_experts.linear_fc2.weight", Shard::kRowParallel,
       LayerParams({"mlp.shared_expert.down_proj.weight"}), Placement::kLayer},
      {layer + "mlp.shared_experts.gate_weight", Shard::kReplicated,
       LayerParams({"mlp.shared_expert_gate.weight"}), Placement::kLayer},
      {"decoder.final_layernorm.weight",
       Shard::kReplicated,
       {"model.norm.weight"},
       Placement::kLastStage},
      {"output_layer.weight",
       Shard::kVocab,
       {"lm_head.weight"},
       Placement::kLastStage,
       When::kUntied},
      // Tied: the last stage keeps a copy of the embedding (Megatron's
      // share_embeddings_and_output_weights), none when it is the first stage.
      {"output_layer.weight",
       Shard::kVocab,
       {"model.embed_tokens.weight"},
       Placement::kLastStageUnlessFirst,
       When::kTied},
  };
  rules.insert(rules.end(), attention_and_mlp.begin(), attention_and_mlp.end());
  return rules;
}

// vLLM's Llama / Qwen2 / Qwen3 / Qwen2-MoE / Qwen3-MoE modules (named
// parameters of model_runner.model). Layers keep their global index on every
// pipeline stage; tied, lm_head is embed_tokens, which the last stage holds.
std::vector<TensorRule> VllmRules() {
  const std::string layer = kLayer;
  return {
      {"model.embed_tokens.weight",
       Shard::kVocab,
       {"model.embed_tokens.weight"},
       Placement::kFirstStage,
       When::kUntied},
      {"model.embed_tokens.weight",
       Shard::kVocab,
       {"model.embed_tokens.weight"},
       Placement::kFirstAndLastStage,
       When::kTied},
      {layer + "input_layernorm.weight", Shard::kReplicated,
       LayerParams({"input_layernorm.weight"}), Placement::kLayer},
      {layer + "self_attn.qkv_proj.weight", Shard::kVllmQkv, Qkv("weight"), Placement::kLayer},
      {layer + "self_attn.qkv_proj.bias", Shard::kVllmQkv, Qkv("bias"), Placement::kLayer},
      {layer + "self_attn.q_norm.weight", Shard::kReplicated,
       LayerParams({"self_attn.q_norm.weight"}), Placement::kLayer},
      {layer + "self_attn.k_norm.weight", Shard::kReplicated,
       LayerParams({"self_attn.k_norm.weight"}), Placement::kLayer},
      {layer + "self_attn.o_proj.weight", Shard::kRowParallel,
       LayerParams({"self_attn.o_proj.weight"}), Placement::kLayer},
      {layer + "post_attention_layernorm.weight", Shard::kReplicated,
       LayerParams({"post_attention_layernorm.weight"}), Placement::kLayer},
      {layer + "mlp.gate_up_proj.weight", Shard::kGateUp,
       LayerParams({"mlp.gate_proj.weight", "mlp.up_proj.weight"}), Placement::kLayer},
      {layer + "mlp.down_proj.weight", Shard::kRowParallel, LayerParams({"mlp.down_proj.weight"}),
       Placement::kLayer},
      {layer + "mlp.gate.weight", Shard::kReplicated, LayerParams({"mlp.gate.weight"}),
       Placement::kLayer},
      {layer + "mlp.experts.w13_weight", Shard::kStackedGateUp,
       LayerParams({"mlp.experts.{E}.gate_proj.weight", "mlp.experts.{E}.up_proj.weight"}),
       Placement::kLayer},
      {layer + "mlp.experts.w2_weight", Shard::kStackedRowParallel,
       LayerParams({"mlp.experts.{E}.down_proj.weight"}), Placement::kLayer},
      {layer + "mlp.shared_expert.gate_up_proj.weight", Shard::kGateUp,
       LayerParams({"mlp.shared_expert.gate_proj.weight", "mlp.shared_expert.up_proj.weight"}),
       Placement::kLayer},
      {layer + "mlp.shared_expert.down_proj.weight", Shard::kRowParallel,
       LayerParams({"mlp.shared_expert.down_proj.weight"}), Placement::kLayer},
      {layer + "mlp.shared_expert_gate.weight", Shard::kReplicated,
       LayerParams({"mlp.shared_expert_gate.weight"}), Placement::kLayer},
      {"model.norm.weight", Shard::kReplicated, {"model.norm.weight"}, Placement::kLastStage},
      {"lm_head.weight", Shard::kVocab, {"lm_head.weight"}, Placement::kLastStage},
  };
}

// Hugging Face: every parameter whole, under its own name.
std::vector<TensorRule> HfRules(const ModelConfig& model) {
  std::vector<TensorRule> rules;
  for (const HfParameter& p : HfParameters(model)) {
    rules.push_back({p.name_template, Shard::kReplicated, {p.name_template}, p.placement});
  }
  return rules;
}

}  // namespace

absl::StatusOr<Preset> FindPreset(absl::string_view name, const ModelConfig& model,
                                  absl::string_view field) {
  if (name == "megatron-core-gpt") {
    return Preset{std::string(name), Framework::kMegatronCore, MegatronRules(true)};
  }
  if (name == "megatron-core-gpt-local") {
    return Preset{std::string(name), Framework::kMegatronCore, MegatronRules(false)};
  }
  if (name == "vllm") return Preset{std::string(name), Framework::kVllm, VllmRules()};
  if (name == "hf") return Preset{std::string(name), Framework::kHf, HfRules(model)};
  return absl::InvalidArgumentError(absl::StrCat(
      field, " is '", name, "'; accepted: megatron-core-gpt, megatron-core-gpt-local, vllm, hf"));
}

}  // namespace paramsync::layouts
