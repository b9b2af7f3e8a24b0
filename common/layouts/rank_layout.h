// File: common/layouts/rank_layout.h
// -----------------------------------------------------------------------------
// Which part of a model one rank holds under a framework's rules: its tensor
// parallel (and expert tensor parallel) shard, its pipeline stage's layers,
// its expert parallel block of routed experts, and the padded vocabulary its
// embedding and output shards split. Resolves the defaults of
// paramsync.v1.LayoutSpec and checks that every split the framework makes is
// even. Pure.
#ifndef PARAMSYNC_COMMON_LAYOUTS_RANK_LAYOUT_H_
#define PARAMSYNC_COMMON_LAYOUTS_RANK_LAYOUT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/layouts/model_config.h"
#include "common/layouts/presets.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::layouts {

struct RankLayout {
  int tp_size = 1;
  int tp_rank = 0;
  int pp_size = 1;
  int pp_rank = 0;
  int ep_size = 1;
  int ep_rank = 0;
  // Routed experts split over expert_tp_size ranks (Megatron's ETP; vLLM: 1
  // with expert parallelism, else TP).
  int expert_tp_size = 1;
  int expert_tp_rank = 0;
  int first_layer = 0;    // Global index of the stage's first layer.
  int num_layers = 0;     // Layers on the stage.
  int local_experts = 0;  // Routed experts per layer on this EP rank (num_experts / ep_size).
  int64_t padded_vocab = 0;

  bool first_stage() const { return pp_rank == 0; }
  bool last_stage() const { return pp_rank == pp_size - 1; }
};

// The part of `model` that the rank of `endpoint.parallel` holds under
// `framework` with the options of `endpoint.layout`. INVALID_ARGUMENT naming
// the field ("endpoint.layout.num_layers", "endpoint.parallel.tp_size", ...)
// and what is accepted, e.g. Megatron-Core at a TP size that does not divide
// the query groups, vLLM at one that does not divide the query heads, an
// uneven pipeline split without an explicit layer range, or a vocabulary so
// small that a TP rank would hold only padding.
absl::StatusOr<RankLayout> ResolveRankLayout(Framework framework, const ModelConfig& model,
                                             const v1::EndpointSpec& endpoint);

}  // namespace paramsync::layouts

#endif  // PARAMSYNC_COMMON_LAYOUTS_RANK_LAYOUT_H_
