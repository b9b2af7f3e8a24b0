// File: common/layouts/expand_layout.h
// -----------------------------------------------------------------------------
// Every tensor one rank of a framework holds, from a layout preset: its name,
// dtype and shape, and the logical pieces (paramsync.v1.LogicalPiece) that say
// where each of its elements sits in the model's unsharded Hugging Face
// parameters. What lets a Megatron-Core trainer and a vLLM engine with other
// names, fused layouts and parallelism sync without per-model code: the
// coordinator expands an endpoint's EndpointSpec.layout at registration, and
// framework stand-ins (bench/tensor_holder) allocate their tensors from it.
// Pure.
//
// Example: Megatron-Core TP rank 1 of 2 of a Qwen2 model with 4 query heads in
// 2 groups of head_dim 16 holds "decoder.layers.0.self_attention.linear_qkv.
// weight" [64, hidden] with 3 pieces: rows [32, 64) of q_proj at local row 0,
// rows [16, 32) of k_proj at row 32, rows [16, 32) of v_proj at row 48.
#ifndef PARAMSYNC_COMMON_LAYOUTS_EXPAND_LAYOUT_H_
#define PARAMSYNC_COMMON_LAYOUTS_EXPAND_LAYOUT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "paramsync/v1/types.pb.h"

namespace paramsync::layouts {

// The tensors of the rank `endpoint.parallel` describes, under
// `endpoint.layout` (preset, model config and options), in state-dict order.
// Each has at least one piece and at most 1,024; `tp_split_dim` is set on
// tensors that TP (or expert TP) splits. INVALID_ARGUMENT naming the field
// ("endpoint.layout.preset", "endpoint.layout.model.num_key_value_heads",
// "endpoint.parallel.tp_size", ...) and what is accepted
// (model_config.h, rank_layout.h).
absl::StatusOr<std::vector<v1::ParameterSpec>> ExpandLayout(const v1::EndpointSpec& endpoint);

}  // namespace paramsync::layouts

#endif  // PARAMSYNC_COMMON_LAYOUTS_EXPAND_LAYOUT_H_
