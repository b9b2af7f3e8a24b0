#include "tests/layouts/reference_frameworks.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"

namespace paramsync::layouts::testing {
namespace {

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor Zeros(std::vector<int64_t> shape) {
  Tensor t{std::move(shape), {}};
  t.values.assign(Elements(t.shape), 0);
  return t;
}

int64_t RowSize(const Tensor& t) { return Elements(t.shape) / t.shape[0]; }

Tensor RowsOf(const Tensor& t, int64_t start, int64_t count) {
  Tensor out = t;
  out.shape[0] = count;
  const int64_t row = RowSize(t);
  out.values.assign(t.values.begin() + start * row, t.values.begin() + (start + count) * row);
  return out;
}

// torch.chunk(t, parts, dim=0)[part] for an even split.
Tensor ChunkRows(const Tensor& t, int parts, int part) {
  const int64_t rows = t.shape[0] / parts;
  return RowsOf(t, part * rows, rows);
}

// torch.chunk(t, parts, dim=1)[part] of a matrix.
Tensor ChunkColumns(const Tensor& t, int parts, int part) {
  const int64_t columns = t.shape[1] / parts;
  Tensor out = Zeros({t.shape[0], columns});
  for (int64_t r = 0; r < t.shape[0]; ++r) {
    for (int64_t c = 0; c < columns; ++c) {
      out.values[r * columns + c] = t.values[r * t.shape[1] + part * columns + c];
    }
  }
  return out;
}

// torch.cat(parts, dim=0).
Tensor Cat(const std::vector<Tensor>& parts) {
  Tensor out = parts.front();
  out.values.clear();
  out.shape[0] = 0;
  for (const Tensor& p : parts) {
    out.shape[0] += p.shape[0];
    out.values.insert(out.values.end(), p.values.begin(), p.values.end());
  }
  return out;
}

// The first `rows` rows of `t` and zero rows after them.
Tensor PadRows(const Tensor& t, int64_t rows) {
  Tensor out = t;
  out.shape[0] = rows;
  out.values.resize(Elements(out.shape), 0);
  return out;
}

std::string Layer(int layer, const std::string& name) {
  return absl::StrCat("model.layers.", layer, ".", name);
}

std::string Expert(int layer, int expert, const std::string& name) {
  return absl::StrCat("model.layers.", layer, ".mlp.experts.", expert, ".", name, ".weight");
}

// A rank's layers, padded vocabulary and routed-expert split, as each
// framework computes them.
struct Split {
  int first_layer = 0;
  int num_layers = 0;
  int64_t padded_vocab = 0;
  int local_experts = 0;
  int etp = 1;
  int etp_rank = 0;
};

Split SplitOf(const Arch& a, const Rank& r, bool megatron) {
  Split s;
  s.num_layers = r.num_layers > 0 ? r.num_layers : a.layers / r.pp;
  s.first_layer = r.num_layers > 0 ? r.first_layer : r.pp_rank * s.num_layers;
  // Megatron: vocab_size_with_padding (make_vocab_size_divisible_by x TP);
  // vLLM: pad_vocab_size (padding_size), then an even split over TP.
  const int64_t multiple = megatron ? (r.vocab_padding > 0 ? r.vocab_padding : 128) * r.tp
                                    : (r.vocab_padding > 0 ? r.vocab_padding : 64);
  s.padded_vocab = a.vocab;
  while (s.padded_vocab % multiple != 0) ++s.padded_vocab;
  s.local_experts = a.experts / r.ep;
  s.etp = r.etp > 0 ? r.etp : (megatron || r.ep == 1 ? r.tp : 1);
  s.etp_rank = r.tp_rank % s.etp;
  return s;
}

Tensor VocabShard(const Tensor& full, const Split& s, const Rank& r) {
  return ChunkRows(PadRows(full, s.padded_vocab), r.tp, r.tp_rank);
}

Tensor GateUp(const Tensor& gate, const Tensor& up, int parts, int part) {
  return Cat({ChunkRows(gate, parts, part), ChunkRows(up, parts, part)});
}

// Megatron-Core's fused QKV of the whole model (its HF checkpoint converter):
// per query group, the group's query heads, then its key head and value head.
Tensor MegatronFusedQkv(const Arch& a, const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t d = a.head_dim;
  const int heads_per_group = a.heads / a.kv_heads;
  std::vector<Tensor> rows;
  for (int g = 0; g < a.kv_heads; ++g) {
    for (int h = g * heads_per_group; h < (g + 1) * heads_per_group; ++h) {
      rows.push_back(RowsOf(q, h * d, d));
    }
    rows.push_back(RowsOf(k, g * d, d));
    rows.push_back(RowsOf(v, g * d, d));
  }
  return Cat(rows);
}

// vLLM's QKVParallelLinear.weight_loader: the rank's query heads, then its
// key/value heads (shard tp_rank / num_kv_head_replicas).
Tensor VllmQkv(const Arch& a, const Rank& r, const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t d = a.head_dim;
  const int q_heads = a.heads / r.tp;
  const int replicas = std::max(1, r.tp / a.kv_heads);
  const int kv_per_rank = std::max(1, a.kv_heads / r.tp);
  const int kv_shard = r.tp_rank / replicas;
  return Cat({RowsOf(q, r.tp_rank * q_heads * d, q_heads * d),
              RowsOf(k, kv_shard * kv_per_rank * d, kv_per_rank * d),
              RowsOf(v, kv_shard * kv_per_rank * d, kv_per_rank * d)});
}

}  // namespace

v1::ModelConfig Arch::Proto() const {
  v1::ModelConfig c;
  c.set_hidden_size(hidden);
  c.set_num_hidden_layers(layers);
  c.set_num_attention_heads(heads);
  c.set_num_key_value_heads(kv_heads);
  c.set_head_dim(head_dim);
  c.set_intermediate_size(ffn);
  c.set_vocab_size(vocab);
  c.set_tie_word_embeddings(tied);
  c.set_attention_bias(bias);
  c.set_qk_norm(qk_norm);
  c.set_num_experts(experts);
  c.set_moe_intermediate_size(expert_ffn);
  c.set_shared_expert_intermediate_size(shared_ffn);
  return c;
}

Arch ScaledQwen25(int layers) {
  Arch a;
  a.hidden = 224;
  a.layers = layers;
  a.heads = 28;
  a.kv_heads = 4;
  a.head_dim = 8;
  a.ffn = 64;
  a.vocab = 1000;
  a.bias = true;
  return a;
}

Arch SmallMoe() {
  Arch a = ScaledQwen25(2);
  a.hidden = 64;
  a.heads = 4;
  a.kv_heads = 2;
  a.head_dim = 16;
  a.ffn = 0;
  a.vocab = 250;
  a.bias = false;
  a.experts = 8;
  a.expert_ffn = 32;
  return a;
}

v1::EndpointSpec Endpoint(const std::string& preset, const Arch& arch, const Rank& rank) {
  v1::EndpointSpec spec;
  spec.set_model("m");
  v1::ParallelConfig* p = spec.mutable_parallel();
  p->set_tp_size(rank.tp);
  p->set_tp_rank(rank.tp_rank);
  p->set_pp_size(rank.pp);
  p->set_pp_rank(rank.pp_rank);
  p->set_ep_size(rank.ep);
  p->set_ep_rank(rank.ep_rank);
  p->set_dp_size(1);
  v1::LayoutSpec* layout = spec.mutable_layout();
  layout->set_preset(preset);
  *layout->mutable_model() = arch.Proto();
  layout->set_first_layer(rank.num_layers > 0 ? rank.first_layer : 0);
  layout->set_num_layers(rank.num_layers);
  layout->set_vocab_padding(rank.vocab_padding);
  layout->set_expert_tp_size(rank.etp);
  return spec;
}

Tensors HfModel(const Arch& a) {
  Tensors hf;
  const auto add = [&hf](const std::string& name, std::vector<int64_t> shape) {
    Tensor t = Zeros(std::move(shape));
    // Distinct in the tensor, and (but with negligible odds) across tensors;
    // never 0, the padding value.
    const uint64_t key = std::hash<std::string>()(name) | (uint64_t{1} << 63);
    for (size_t i = 0; i < t.values.size(); ++i) t.values[i] = key + i;
    hf[name] = std::move(t);
  };
  const int64_t h = a.hidden, q = a.heads * a.head_dim, kv = a.kv_heads * a.head_dim;
  add("model.embed_tokens.weight", {a.vocab, h});
  for (int l = 0; l < a.layers; ++l) {
    add(Layer(l, "input_layernorm.weight"), {h});
    add(Layer(l, "self_attn.q_proj.weight"), {q, h});
    add(Layer(l, "self_attn.k_proj.weight"), {kv, h});
    add(Layer(l, "self_attn.v_proj.weight"), {kv, h});
    if (a.bias) {
      add(Layer(l, "self_attn.q_proj.bias"), {q});
      add(Layer(l, "self_attn.k_proj.bias"), {kv});
      add(Layer(l, "self_attn.v_proj.bias"), {kv});
    }
    add(Layer(l, "self_attn.o_proj.weight"), {h, q});
    if (a.qk_norm) {
      add(Layer(l, "self_attn.q_norm.weight"), {a.head_dim});
      add(Layer(l, "self_attn.k_norm.weight"), {a.head_dim});
    }
    add(Layer(l, "post_attention_layernorm.weight"), {h});
    if (a.experts == 0) {
      add(Layer(l, "mlp.gate_proj.weight"), {a.ffn, h});
      add(Layer(l, "mlp.up_proj.weight"), {a.ffn, h});
      add(Layer(l, "mlp.down_proj.weight"), {h, a.ffn});
      continue;
    }
    add(Layer(l, "mlp.gate.weight"), {a.experts, h});
    for (int e = 0; e < a.experts; ++e) {
      add(Expert(l, e, "gate_proj"), {a.expert_ffn, h});
      add(Expert(l, e, "up_proj"), {a.expert_ffn, h});
      add(Expert(l, e, "down_proj"), {h, a.expert_ffn});
    }
    if (a.shared_ffn > 0) {
      add(Layer(l, "mlp.shared_expert.gate_proj.weight"), {a.shared_ffn, h});
      add(Layer(l, "mlp.shared_expert.up_proj.weight"), {a.shared_ffn, h});
      add(Layer(l, "mlp.shared_expert.down_proj.weight"), {h, a.shared_ffn});
      add(Layer(l, "mlp.shared_expert_gate.weight"), {1, h});
    }
  }
  add("model.norm.weight", {h});
  if (!a.tied) add("lm_head.weight", {a.vocab, h});
  return hf;
}

Tensors MegatronRank(const Arch& a, const Tensors& hf, const Rank& r, bool te_spec) {
  const Split s = SplitOf(a, r, true);
  Tensors out;
  const bool first = r.pp_rank == 0, last = r.pp_rank == r.pp - 1;
  if (first)
    out["embedding.word_embeddings.weight"] = VocabShard(hf.at("model.embed_tokens.weight"), s, r);
  for (int i = 0; i < s.num_layers; ++i) {
    const int l = s.first_layer + i;  // Megatron names the stage's layers 0, 1, ...
    const std::string local = absl::StrCat("decoder.layers.", i, ".");
    const auto at = [&](const std::string& name) { return hf.at(Layer(l, name)); };
    out[local + (te_spec ? "self_attention.linear_qkv.layer_norm_weight"
                         : "input_layernorm.weight")] = at("input_layernorm.weight");
    out[local + "self_attention.linear_qkv.weight"] =
        ChunkRows(MegatronFusedQkv(a, at("self_attn.q_proj.weight"), at("self_attn.k_proj.weight"),
                                   at("self_attn.v_proj.weight")),
                  r.tp, r.tp_rank);
    if (a.bias) {
      out[local + "self_attention.linear_qkv.bias"] =
          ChunkRows(MegatronFusedQkv(a, at("self_attn.q_proj.bias"), at("self_attn.k_proj.bias"),
                                     at("self_attn.v_proj.bias")),
                    r.tp, r.tp_rank);
    }
    if (a.qk_norm) {
      out[local + "self_attention.q_layernorm.weight"] = at("self_attn.q_norm.weight");
      out[local + "self_attention.k_layernorm.weight"] = at("self_attn.k_norm.weight");
    }
    out[local + "self_attention.linear_proj.weight"] =
        ChunkColumns(at("self_attn.o_proj.weight"), r.tp, r.tp_rank);
    if (a.experts == 0) {
      out[local + (te_spec ? "mlp.linear_fc1.layer_norm_weight" : "pre_mlp_layernorm.weight")] =
          at("post_attention_layernorm.weight");
      out[local + "mlp.linear_fc1.weight"] =
          GateUp(at("mlp.gate_proj.weight"), at("mlp.up_proj.weight"), r.tp, r.tp_rank);
      out[local + "mlp.linear_fc2.weight"] =
          ChunkColumns(at("mlp.down_proj.weight"), r.tp, r.tp_rank);
      continue;
    }
    out[local + "pre_mlp_layernorm.weight"] = at("post_attention_layernorm.weight");
    out[local + "mlp.router.weight"] = at("mlp.gate.weight");
    for (int e = 0; e < s.local_experts; ++e) {
      const int global = r.ep_rank * s.local_experts + e;
      const std::string expert = absl::StrCat(local, "mlp.experts.local_experts.", e, ".");
      out[expert + "linear_fc1.weight"] =
          GateUp(hf.at(Expert(l, global, "gate_proj")), hf.at(Expert(l, global, "up_proj")), s.etp,
                 s.etp_rank);
      out[expert + "linear_fc2.weight"] =
          ChunkColumns(hf.at(Expert(l, global, "down_proj")), s.etp, s.etp_rank);
    }
    if (a.shared_ffn > 0) {
      out[local + "mlp.shared_experts.linear_fc1.weight"] =
          GateUp(at("mlp.shared_expert.gate_proj.weight"), at("mlp.shared_expert.up_proj.weight"),
                 r.tp, r.tp_rank);
      out[local + "mlp.shared_experts.linear_fc2.weight"] =
          ChunkColumns(at("mlp.shared_expert.down_proj.weight"), r.tp, r.tp_rank);
      out[local + "mlp.shared_experts.gate_weight"] = at("mlp.shared_expert_gate.weight");
    }
  }
  if (last) {
    out["decoder.final_layernorm.weight"] = hf.at("model.norm.weight");
    // Tied: the last stage keeps its own copy of the embedding, unless it is
    // the first stage too (then the embedding itself is the output layer).
    if (!a.tied) {
      out["output_layer.weight"] = VocabShard(hf.at("lm_head.weight"), s, r);
    } else if (!first) {
      out["output_layer.weight"] = VocabShard(hf.at("model.embed_tokens.weight"), s, r);
    }
  }
  return out;
}

Tensors VllmRank(const Arch& a, const Tensors& hf, const Rank& r) {
  const Split s = SplitOf(a, r, false);
  Tensors out;
  const bool first = r.pp_rank == 0, last = r.pp_rank == r.pp - 1;
  // Tied, the last stage's lm_head is its own embed_tokens.
  if (first || (a.tied && last)) {
    out["model.embed_tokens.weight"] = VocabShard(hf.at("model.embed_tokens.weight"), s, r);
  }
  for (int l = s.first_layer; l < s.first_layer + s.num_layers; ++l) {
    const auto at = [&](const std::string& name) { return hf.at(Layer(l, name)); };
    const auto put = [&](const std::string& name, Tensor t) { out[Layer(l, name)] = std::move(t); };
    put("input_layernorm.weight", at("input_layernorm.weight"));
    put("self_attn.qkv_proj.weight",
        VllmQkv(a, r, at("self_attn.q_proj.weight"), at("self_attn.k_proj.weight"),
                at("self_attn.v_proj.weight")));
    if (a.bias) {
      put("self_attn.qkv_proj.bias",
          VllmQkv(a, r, at("self_attn.q_proj.bias"), at("self_attn.k_proj.bias"),
                  at("self_attn.v_proj.bias")));
    }
    if (a.qk_norm) {
      put("self_attn.q_norm.weight", at("self_attn.q_norm.weight"));
      put("self_attn.k_norm.weight", at("self_attn.k_norm.weight"));
    }
    put("self_attn.o_proj.weight", ChunkColumns(at("self_attn.o_proj.weight"), r.tp, r.tp_rank));
    put("post_attention_layernorm.weight", at("post_attention_layernorm.weight"));
    if (a.experts == 0) {
      put("mlp.gate_up_proj.weight",
          GateUp(at("mlp.gate_proj.weight"), at("mlp.up_proj.weight"), r.tp, r.tp_rank));
      put("mlp.down_proj.weight", ChunkColumns(at("mlp.down_proj.weight"), r.tp, r.tp_rank));
      continue;
    }
    put("mlp.gate.weight", at("mlp.gate.weight"));
    // FusedMoE's w13 [local experts, 2 x ffn / etp, hidden] and w2 [local
    // experts, hidden, ffn / etp], registered with their first two dimensions
    // merged: the experts' 2-D blocks one after another.
    std::vector<Tensor> w13, w2;
    for (int e = 0; e < s.local_experts; ++e) {
      const int global = r.ep_rank * s.local_experts + e;
      w13.push_back(GateUp(hf.at(Expert(l, global, "gate_proj")),
                           hf.at(Expert(l, global, "up_proj")), s.etp, s.etp_rank));
      w2.push_back(ChunkColumns(hf.at(Expert(l, global, "down_proj")), s.etp, s.etp_rank));
    }
    put("mlp.experts.w13_weight", Cat(w13));
    put("mlp.experts.w2_weight", Cat(w2));
    if (a.shared_ffn > 0) {
      put("mlp.shared_expert.gate_up_proj.weight",
          GateUp(at("mlp.shared_expert.gate_proj.weight"), at("mlp.shared_expert.up_proj.weight"),
                 r.tp, r.tp_rank));
      put("mlp.shared_expert.down_proj.weight",
          ChunkColumns(at("mlp.shared_expert.down_proj.weight"), r.tp, r.tp_rank));
      put("mlp.shared_expert_gate.weight", at("mlp.shared_expert_gate.weight"));
    }
  }
  if (last) {
    out["model.norm.weight"] = hf.at("model.norm.weight");
    if (!a.tied) out["lm_head.weight"] = VocabShard(hf.at("lm_head.weight"), s, r);
  }
  return out;
}

Tensors ApplyPieces(const std::vector<v1::ParameterSpec>& specs, const Tensors& hf) {
  Tensors out;
  for (const v1::ParameterSpec& spec : specs) {
    Tensor t = Zeros({spec.shape().begin(), spec.shape().end()});
    for (const v1::LogicalPiece& piece : spec.logical()) {
      const Tensor& logical = hf.at(piece.logical_name());
      const int rank = spec.shape_size();
      // Visit every element of the box, as a multi-index counter.
      std::vector<int64_t> index(rank, 0);
      const int64_t count =
          Elements({piece.local_box().extent().begin(), piece.local_box().extent().end()});
      for (int64_t n = 0; n < count; ++n) {
        int64_t src = 0, dst = 0;
        for (int d = 0; d < rank; ++d) {
          src = src * logical.shape[d] + piece.logical_box().start(d) + index[d];
          dst = dst * t.shape[d] + piece.local_box().start(d) + index[d];
        }
        t.values[dst] = logical.values[src];
        for (int d = rank - 1; d >= 0 && ++index[d] == piece.local_box().extent(d); --d) {
          index[d] = 0;
        }
      }
    }
    out[spec.name()] = std::move(t);
  }
  return out;
}

}  // namespace paramsync::layouts::testing
