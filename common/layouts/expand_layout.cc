#include "common/layouts/expand_layout.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "common/layouts/framework_shards.h"
#include "common/layouts/hf_parameters.h"
#include "common/layouts/model_config.h"
#include "common/layouts/name_template.h"
#include "common/layouts/presets.h"
#include "common/layouts/rank_layout.h"
#include "common/layouts/tensor_layout.h"
#include "common/status_macros.h"

namespace paramsync::layouts {
namespace {

bool Applies(When when, const ModelConfig& model) {
  switch (when) {
    case When::kAlways:
      return true;
    case When::kDense:
      return !model.moe();
    case When::kMoe:
      return model.moe();
    case When::kTied:
      return model.tie_word_embeddings;
    case When::kUntied:
      return !model.tie_word_embeddings;
  }
  return false;
}

// Whether a rank holds a tensor of a placement outside the layers.
bool Holds(Placement placement, const RankLayout& rank) {
  switch (placement) {
    case Placement::kFirstStage:
      return rank.first_stage();
    case Placement::kLastStage:
      return rank.last_stage();
    case Placement::kFirstAndLastStage:
      return rank.first_stage() || rank.last_stage();
    case Placement::kLastStageUnlessFirst:
      return rank.last_stage() && !rank.first_stage();
    case Placement::kLayer:
    case Placement::kExpert:
      return false;
  }
  return false;
}

bool PerLayer(Placement placement) {
  return placement == Placement::kLayer || placement == Placement::kExpert;
}

bool BeforeLayers(Placement placement) {
  return placement == Placement::kFirstStage || placement == Placement::kFirstAndLastStage;
}

void SetBox(const Shape& start, const Shape& extent, v1::TensorBox* box) {
  box->mutable_start()->Add(start.begin(), start.end());
  box->mutable_extent()->Add(extent.begin(), extent.end());
}

// Applies a preset's rules to one rank.
class Expander {
 public:
  Expander(const Preset& preset, const ModelConfig& model, const RankLayout& rank)
      : preset_(preset), model_(model), rank_(rank) {
    for (HfParameter& p : HfParameters(model)) shapes_[p.name_template] = std::move(p.shape);
    for (const TensorRule& rule : preset.rules) {
      bool known = Applies(rule.when, model);
      for (const std::string& logical : rule.logical) known = known && shapes_.contains(logical);
      if (known) rules_.push_back(&rule);
    }
  }

  std::vector<v1::ParameterSpec> Run() {
    EmitOutsideLayers(true);
    // Megatron-Core numbers a stage's layers and an EP rank's experts from 0.
    const bool local_numbers = preset_.framework == Framework::kMegatronCore;
    for (int i = 0; i < rank_.num_layers; ++i) {
      const int layer = rank_.first_layer + i;
      const int local_layer = local_numbers ? i : layer;
      for (const TensorRule* rule : rules_) {
        if (rule->placement == Placement::kLayer) Emit(*rule, {local_layer}, {layer});
        if (rule->placement != Placement::kExpert) continue;
        for (int e = 0; e < rank_.local_experts; ++e) {
          const int expert = GlobalExpert(e);
          Emit(*rule, {local_layer, local_numbers ? e : expert}, {layer, expert});
        }
      }
    }
    EmitOutsideLayers(false);
    return std::move(out_);
  }

 private:
  int GlobalExpert(int local) const { return rank_.ep_rank * rank_.local_experts + local; }

  void EmitOutsideLayers(bool before) {
    for (const TensorRule* rule : rules_) {
      if (!PerLayer(rule->placement) && BeforeLayers(rule->placement) == before &&
          Holds(rule->placement, rank_)) {
        Emit(*rule, {}, {});
      }
    }
  }

  LogicalParam Logical(const std::string& name_template, const NameIndices& global) const {
    return LogicalParam{RenderName(name_template, global), shapes_.at(name_template)};
  }

  static bool SplitsExperts(const TensorRule& rule) {
    return rule.placement == Placement::kExpert || rule.shard == Shard::kStackedGateUp ||
           rule.shard == Shard::kStackedRowParallel;
  }

  TensorLayout Build(const TensorRule& rule, const NameIndices& global) const {
    const auto param = [&](int i) { return Logical(rule.logical[i], global); };
    const bool experts = SplitsExperts(rule);
    const int parts = experts ? rank_.expert_tp_size : rank_.tp_size;
    const int part = experts ? rank_.expert_tp_rank : rank_.tp_rank;
    const AttentionHeads heads{model_.num_heads, model_.num_kv_heads, model_.head_dim};
    switch (rule.shard) {
      case Shard::kReplicated:
        return Whole(param(0));
      case Shard::kRowParallel:
        return RowParallelShard(param(0), parts, part);
      case Shard::kGateUp:
        return GateUpShard(param(0), param(1), parts, part);
      case Shard::kMegatronQkv:
        return MegatronQkvShard(param(0), param(1), param(2), heads, parts, part);
      case Shard::kVllmQkv:
        return VllmQkvShard(param(0), param(1), param(2), heads, parts, part);
      case Shard::kVocab:
        return VocabShard(param(0), rank_.padded_vocab, parts, part);
      case Shard::kStackedGateUp:
      case Shard::kStackedRowParallel: {
        std::vector<TensorLayout> experts;
        for (int e = 0; e < rank_.local_experts; ++e) {
          const NameIndices at{global.layer, GlobalExpert(e)};
          experts.push_back(rule.shard == Shard::kStackedGateUp
                                ? GateUpShard(Logical(rule.logical[0], at),
                                              Logical(rule.logical[1], at), parts, part)
                                : RowParallelShard(Logical(rule.logical[0], at), parts, part));
        }
        return StackRows(experts);
      }
    }
    return {};
  }

  void Emit(const TensorRule& rule, const NameIndices& local, const NameIndices& global) {
    const TensorLayout layout = Build(rule, global);
    v1::ParameterSpec& spec = out_.emplace_back();
    spec.set_name(RenderName(rule.local, local));
    spec.set_dtype(model_.dtype);
    spec.mutable_shape()->Add(layout.shape.begin(), layout.shape.end());
    const int parts = SplitsExperts(rule) ? rank_.expert_tp_size : rank_.tp_size;
    if (rule.shard != Shard::kReplicated && parts > 1) {
      const bool columns =
          rule.shard == Shard::kRowParallel || rule.shard == Shard::kStackedRowParallel;
      spec.set_tp_split_dim(columns ? 1 : 0);
    }
    for (const Piece& piece : layout.pieces) {
      v1::LogicalPiece* p = spec.add_logical();
      p->set_logical_name(piece.logical_name);
      p->mutable_logical_shape()->Add(piece.logical_shape.begin(), piece.logical_shape.end());
      SetBox(piece.logical_start, piece.extent, p->mutable_logical_box());
      SetBox(piece.local_start, piece.extent, p->mutable_local_box());
    }
  }

  const Preset& preset_;
  const ModelConfig& model_;
  const RankLayout& rank_;
  absl::flat_hash_map<std::string, Shape> shapes_;  // Logical name template -> shape.
  std::vector<const TensorRule*> rules_;            // Those that apply to the model.
  std::vector<v1::ParameterSpec> out_;
};

}  // namespace

absl::StatusOr<std::vector<v1::ParameterSpec>> ExpandLayout(const v1::EndpointSpec& endpoint) {
  ASSIGN_OR_RETURN(ModelConfig model,
                   ResolveModelConfig(endpoint.layout().model(), "endpoint.layout.model"));
  ASSIGN_OR_RETURN(Preset preset,
                   FindPreset(endpoint.layout().preset(), model, "endpoint.layout.preset"));
  ASSIGN_OR_RETURN(RankLayout rank, ResolveRankLayout(preset.framework, model, endpoint));
  return Expander(preset, model, rank).Run();
}

}  // namespace paramsync::layouts
