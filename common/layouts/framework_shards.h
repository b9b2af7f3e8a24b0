// File: common/layouts/framework_shards.h
// -----------------------------------------------------------------------------
// How Megatron-Core and vLLM shard each kind of tensor over `parts` tensor
// parallel ranks: the layout of rank `part`'s tensor (tensor_layout.h) in the
// logical parameters it fuses. Pure. Preconditions, checked by ExpandLayout
// (expand_layout.h): the split dimension of every parameter divides evenly,
// and so do the heads and query groups.
#ifndef PARAMSYNC_COMMON_LAYOUTS_FRAMEWORK_SHARDS_H_
#define PARAMSYNC_COMMON_LAYOUTS_FRAMEWORK_SHARDS_H_

#include <cstdint>

#include "common/layouts/tensor_layout.h"

namespace paramsync::layouts {

// Row-parallel layers (o_proj, down_proj; Megatron's linear_proj, linear_fc2):
// columns [part, part + 1) x shape[1] / parts of a 2-dimensional parameter.
TensorLayout RowParallelShard(const LogicalParam& param, int parts, int part);

// Fused gate/up (Megatron's linear_fc1 with a gated activation, vLLM's
// gate_up_proj and fused-MoE w13): the rank's block of gate rows, then its
// block of up rows.
TensorLayout GateUpShard(const LogicalParam& gate, const LogicalParam& up, int parts, int part);

struct AttentionHeads {
  int64_t heads = 0;     // Query heads.
  int64_t kv_heads = 0;  // Key/value heads = query groups.
  int64_t head_dim = 0;  // Rows of q, k and v per head (elements, for biases).
};

// Megatron-Core's linear_qkv (weight or bias): for each query group in turn,
// the rows of its heads / kv_heads query heads, of its key head and of its
// value head; TP rank `part` holds query groups [part, part + 1) x
// kv_heads / parts (kv_heads is a multiple of parts).
TensorLayout MegatronQkvShard(const LogicalParam& q, const LogicalParam& k, const LogicalParam& v,
                              const AttentionHeads& heads, int parts, int part);

// vLLM's QKVParallelLinear (weight or bias): the rank's heads / parts query
// heads, then its key heads, then its value heads. With more ranks than key/
// value heads each such head is replicated on parts / kv_heads consecutive
// ranks, and rank `part` holds head part / (parts / kv_heads).
TensorLayout VllmQkvShard(const LogicalParam& q, const LogicalParam& k, const LogicalParam& v,
                          const AttentionHeads& heads, int parts, int part);

// Vocabulary-parallel embeddings and output layers: rows [part, part + 1) x
// padded_rows / parts of the vocabulary padded to `padded_rows`; rows past the
// parameter's own are padding. Requires the rank to hold at least one real row.
TensorLayout VocabShard(const LogicalParam& param, int64_t padded_rows, int parts, int part);

}  // namespace paramsync::layouts

#endif  // PARAMSYNC_COMMON_LAYOUTS_FRAMEWORK_SHARDS_H_
