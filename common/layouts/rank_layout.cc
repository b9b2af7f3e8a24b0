#include "common/layouts/rank_layout.h"

#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace paramsync::layouts {
namespace {

constexpr char kParallel[] = "endpoint.parallel.";
constexpr char kLayout[] = "endpoint.layout.";
constexpr char kModel[] = "endpoint.layout.model.";

// Routed-expert tensors one Megatron-Core rank may hold (layers x experts):
// far above real models (Qwen3-MoE-235B: 94 x 128), low enough that a hostile
// request cannot make the coordinator list millions of tensors.
constexpr int64_t kMaxExpertSlotsPerRank = 1 << 16;

absl::Status CheckParallel(const v1::ParallelConfig& p) {
  for (const auto& [name, size, rank] : {std::tuple{"tp", p.tp_size(), p.tp_rank()},
                                         {"pp", p.pp_size(), p.pp_rank()},
                                         {"ep", p.ep_size(), p.ep_rank()}}) {
    if (size < 1 || size > 4096) {
      return absl::InvalidArgumentError(
          absl::StrCat(kParallel, name, "_size is ", size, "; accepted: 1 to 4096"));
    }
    if (rank < 0 || rank >= size) {
      return absl::InvalidArgumentError(absl::StrCat(
          kParallel, name, "_rank is ", rank, "; accepted: 0 to ", name, "_size-1 = ", size - 1));
    }
  }
  return absl::OkStatus();
}

// INVALID_ARGUMENT unless `parts` (parallel field `parts_field`) divides
// `value` (model field `field`); `why` says which framework split needs it.
absl::Status CheckSplit(absl::string_view field, int64_t value, absl::string_view parts_field,
                        int64_t parts, absl::string_view why) {
  if (value % parts != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kModel, field, " is ", value, ", which ", parts_field, " ", parts,
                     " does not divide; accepted: a multiple of ", parts_field, " (", why, ")"));
  }
  return absl::OkStatus();
}

absl::Status ResolveLayers(const ModelConfig& model, const v1::LayoutSpec& layout,
                           RankLayout& rank) {
  if (layout.num_layers() == 0) {
    if (layout.first_layer() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          kLayout, "first_layer is ", layout.first_layer(), " but ", kLayout,
          "num_layers is 0 (an even pipeline split); accepted: both given, or neither"));
    }
    if (model.num_layers % rank.pp_size != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(kLayout, "num_layers is 0 (an even pipeline split) but num_hidden_layers ",
                       model.num_layers, " is not a multiple of pp_size ", rank.pp_size,
                       "; accepted: first_layer and num_layers giving this stage's layers"));
    }
    rank.num_layers = model.num_layers / rank.pp_size;
    rank.first_layer = rank.pp_rank * rank.num_layers;
    return absl::OkStatus();
  }
  if (layout.num_layers() < 1 || layout.first_layer() < 0 ||
      layout.first_layer() > model.num_layers - layout.num_layers()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kLayout, "first_layer ", layout.first_layer(), " and num_layers ", layout.num_layers(),
        " are not a range of the model's ", model.num_layers,
        " layers; accepted: first_layer >= 0, num_layers >= 1, first_layer + num_layers <= ",
        model.num_layers));
  }
  rank.first_layer = layout.first_layer();
  rank.num_layers = layout.num_layers();
  return absl::OkStatus();
}

absl::Status CheckAttentionAndMlp(Framework framework, const ModelConfig& model,
                                  const RankLayout& rank) {
  const int tp = rank.tp_size;
  if (framework == Framework::kMegatronCore) {
    RETURN_IF_ERROR(CheckSplit("num_key_value_heads", model.num_kv_heads, "tp_size", tp,
                               "Megatron-Core splits query groups over TP ranks"));
  } else if (framework == Framework::kVllm) {
    RETURN_IF_ERROR(CheckSplit("num_attention_heads", model.num_heads, "tp_size", tp,
                               "vLLM splits query heads over TP ranks"));
    if (tp > model.num_kv_heads && tp % model.num_kv_heads != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          kModel, "num_key_value_heads is ", model.num_kv_heads, " and tp_size ", tp,
          "; accepted: tp_size a multiple or a divisor of num_key_value_heads (vLLM replicates "
          "each key/value head on tp_size / num_key_value_heads ranks)"));
    }
  }
  if (!model.moe()) {
    RETURN_IF_ERROR(CheckSplit("intermediate_size", model.intermediate_size, "tp_size", tp,
                               "the MLP is split over TP ranks"));
  }
  return CheckSplit("shared_expert_intermediate_size", model.shared_expert_intermediate_size,
                    "tp_size", tp, "the shared expert is split over TP ranks");
}

absl::Status ResolveExperts(Framework framework, const ModelConfig& model,
                            const v1::LayoutSpec& layout, RankLayout& rank) {
  int etp = layout.expert_tp_size();
  if (etp == 0) {
    etp = framework == Framework::kMegatronCore ||
                  (framework == Framework::kVllm && rank.ep_size == 1)
              ? rank.tp_size
              : 1;
  } else if (etp < 0 || rank.tp_size % etp != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kLayout, "expert_tp_size is ", etp, "; accepted: 0 (the preset's default) or a divisor of ",
        kParallel, "tp_size ", rank.tp_size, " (the expert TP rank is tp_rank % expert_tp_size)"));
  }
  rank.expert_tp_size = etp;
  rank.expert_tp_rank = rank.tp_rank % etp;
  if (!model.moe()) return absl::OkStatus();
  RETURN_IF_ERROR(CheckSplit("num_experts", model.num_experts, "ep_size", rank.ep_size,
                             "each EP rank holds an equal block of routed experts"));
  RETURN_IF_ERROR(CheckSplit("moe_intermediate_size", model.moe_intermediate_size, "expert_tp_size",
                             etp, "routed experts are split over expert TP"));
  rank.local_experts = model.num_experts / rank.ep_size;
  if (int64_t{rank.num_layers} * rank.local_experts > kMaxExpertSlotsPerRank) {
    return absl::InvalidArgumentError(
        absl::StrCat("this rank would hold ", rank.num_layers, " layers of ", rank.local_experts,
                     " routed experts; accepted: at most ", kMaxExpertSlotsPerRank,
                     " (raise endpoint.parallel.pp_size or ep_size)"));
  }
  return absl::OkStatus();
}

absl::Status ResolveVocab(Framework framework, const ModelConfig& model,
                          const v1::LayoutSpec& layout, RankLayout& rank) {
  const int64_t knob = layout.vocab_padding();
  if (knob < 0 || knob > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kLayout, "vocab_padding is ", knob, "; accepted: 0 (the preset's default) to ", 1 << 20));
  }
  int64_t multiple = 1;
  if (framework == Framework::kMegatronCore) multiple = (knob > 0 ? knob : 128) * rank.tp_size;
  if (framework == Framework::kVllm) multiple = knob > 0 ? knob : 64;
  rank.padded_vocab = (model.vocab_size + multiple - 1) / multiple * multiple;
  if (rank.padded_vocab % rank.tp_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kModel, "vocab_size ", model.vocab_size, " padded to a multiple of ", multiple, " is ",
        rank.padded_vocab, ", which tp_size ", rank.tp_size, " does not divide; accepted: a ",
        kLayout, "vocab_padding that tp_size divides"));
  }
  const int64_t first_row = rank.padded_vocab / rank.tp_size * rank.tp_rank;
  if (first_row >= model.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        kModel, "vocab_size ", model.vocab_size, " padded to ", rank.padded_vocab,
        " leaves TP rank ", rank.tp_rank, " of ", rank.tp_size,
        " only padding rows; accepted: a vocabulary that reaches every TP rank (lower ", kLayout,
        "vocab_padding or tp_size)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RankLayout> ResolveRankLayout(Framework framework, const ModelConfig& model,
                                             const v1::EndpointSpec& endpoint) {
  const v1::ParallelConfig& p = endpoint.parallel();
  RETURN_IF_ERROR(CheckParallel(p));
  RankLayout rank;
  rank.tp_size = p.tp_size();
  rank.tp_rank = p.tp_rank();
  rank.pp_size = p.pp_size();
  rank.pp_rank = p.pp_rank();
  rank.ep_size = p.ep_size();
  rank.ep_rank = p.ep_rank();
  if (framework == Framework::kHf &&
      (rank.tp_size != 1 || rank.pp_size != 1 || rank.ep_size != 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kParallel, "tp_size/pp_size/ep_size are ", rank.tp_size, "/", rank.pp_size, "/",
        rank.ep_size, " with ", kLayout, "preset hf; accepted: 1/1/1 (hf tensors are unsharded)"));
  }
  RETURN_IF_ERROR(ResolveLayers(model, endpoint.layout(), rank));
  RETURN_IF_ERROR(CheckAttentionAndMlp(framework, model, rank));
  RETURN_IF_ERROR(ResolveExperts(framework, model, endpoint.layout(), rank));
  RETURN_IF_ERROR(ResolveVocab(framework, model, endpoint.layout(), rank));
  return rank;
}

}  // namespace paramsync::layouts
