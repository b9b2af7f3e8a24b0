// File: common/layouts/hf_parameters.h
// -----------------------------------------------------------------------------
// The logical parameters of a model: its Hugging Face parameters (names and
// unsharded shapes, as in its safetensors checkpoint) for the Llama, Qwen2,
// Qwen3, Qwen2-MoE and Qwen3-MoE families, as name templates ("{L}": layer,
// "{E}": expert; name_template.h). What every layout preset's tensors hold
// pieces of. Pure.
#ifndef PARAMSYNC_COMMON_LAYOUTS_HF_PARAMETERS_H_
#define PARAMSYNC_COMMON_LAYOUTS_HF_PARAMETERS_H_

#include <string>
#include <vector>

#include "common/layouts/model_config.h"
#include "common/layouts/tensor_layout.h"

namespace paramsync::layouts {

// Which ranks of a pipeline hold a tensor.
enum class Placement {
  kFirstStage,            // The first stage (embeddings).
  kLastStage,             // The last stage (final norm, output layer).
  kFirstAndLastStage,     // Both (vLLM's tied embed_tokens, which its lm_head uses).
  kLastStageUnlessFirst,  // The last, unless it is also the first (Megatron's tied output_layer).
  kLayer,                 // Once per layer of the stage ("{L}").
  kExpert,                // Once per routed expert of each layer of the stage ("{L}", "{E}").
};

struct HfParameter {
  std::string name_template;
  Shape shape;
  Placement placement;
};

// Every parameter of `model`, in the order of its state dict: biases only
// with attention_bias, q/k norms only with qk_norm, a dense MLP or a router
// with routed experts (and a gated shared expert), lm_head only untied.
std::vector<HfParameter> HfParameters(const ModelConfig& model);

}  // namespace paramsync::layouts

#endif  // PARAMSYNC_COMMON_LAYOUTS_HF_PARAMETERS_H_
