// File: common/layouts/presets.h
// -----------------------------------------------------------------------------
// Layout presets: for each framework, the rules naming every tensor a rank
// holds and how it shards which logical (Hugging Face) parameters. Rules are
// data; ExpandLayout (expand_layout.h) applies them to a model and a rank.
//
// Example rule (Megatron-Core's fused QKV, one tensor per layer of the stage):
//   {"decoder.layers.{L}.self_attention.linear_qkv.weight", Shard::kMegatronQkv,
//    {"model.layers.{L}.self_attn.q_proj.weight", "model.layers.{L}.self_attn.k_proj.weight",
//     "model.layers.{L}.self_attn.v_proj.weight"},
//    Placement::kLayer}
// A rule applies when its condition holds and the model has every logical
// parameter it names (so bias, q/k norm, dense, expert and shared-expert rules
// select themselves from the model config).
#ifndef PARAMSYNC_COMMON_LAYOUTS_PRESETS_H_
#define PARAMSYNC_COMMON_LAYOUTS_PRESETS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/layouts/hf_parameters.h"
#include "common/layouts/model_config.h"

namespace paramsync::layouts {

enum class Framework { kMegatronCore, kVllm, kHf };

// How a tensor holds its logical parameters (framework_shards.h). Routed
// experts split over the expert TP group, everything else over TP.
enum class Shard {
  kReplicated,          // One parameter, whole (norms, routers).
  kRowParallel,         // One, split on dimension 1.
  kGateUp,              // Gate and up, fused per rank.
  kMegatronQkv,         // q, k, v interleaved per query group.
  kVllmQkv,             // q, k, v one after another, key/value heads replicated past their count.
  kVocab,               // One, split on the padded vocabulary.
  kStackedGateUp,       // vLLM's fused-MoE w13: every local expert's gate/up, stacked.
  kStackedRowParallel,  // vLLM's fused-MoE w2: every local expert's down_proj, stacked.
};

enum class When { kAlways, kDense, kMoe, kTied, kUntied };

struct TensorRule {
  std::string local;  // The rank's tensor name template.
  Shard shard;
  std::vector<std::string> logical;  // Logical parameter name templates (global indices).
  Placement placement;
  When when = When::kAlways;
};

struct Preset {
  std::string name;
  Framework framework;
  std::vector<TensorRule> rules;
};

// "megatron-core-gpt", "megatron-core-gpt-local", "vllm" or "hf" for `model`;
// INVALID_ARGUMENT naming `field` and the accepted names for another name.
//
// Routed-expert tensors are 2-dimensional: vLLM's fused w13 [experts, rows,
// hidden] and w2 [experts, hidden, columns] are registered as views with their
// first two dimensions merged ([experts x rows, hidden], [experts x hidden,
// columns]; the same bytes), since a logical piece has its tensor's rank.
absl::StatusOr<Preset> FindPreset(absl::string_view name, const ModelConfig& model,
                                  absl::string_view field);

}  // namespace paramsync::layouts

#endif  // PARAMSYNC_COMMON_LAYOUTS_PRESETS_H_
