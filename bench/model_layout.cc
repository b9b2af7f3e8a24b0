#include "bench/model_layout.h"

#include <cstring>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/tensor_box.h"

namespace paramsync::bench {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t Elements(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

}  // namespace

absl::StatusOr<ModelShape> ModelPreset(const std::string& name) {
  if (name == "tiny") return ModelShape{1, 8, 16, 32, v1::DTYPE_FLOAT32};
  if (name == "small") return ModelShape{2, 128, 256, 1024, v1::DTYPE_BFLOAT16};
  if (name == "transformer-100m") return ModelShape{4, 768, 2048, 16000, v1::DTYPE_BFLOAT16};
  if (name == "qwen2.5-7b") {
    // Q (28 heads) + K and V (4 KV heads each), head dim 128.
    return ModelShape{28, 3584, 18944, 152064, v1::DTYPE_BFLOAT16, (28 + 2 * 4) * 128, true};
  }
  if (name == "moe-small-tensors") {
    return ModelShape{24, 1024, 0, 32000, v1::DTYPE_BFLOAT16, 0, false, 64, 192};
  }
  if (name == "reshard-small") {
    // Every split dimension divisible by 2, 3 and 4, and 6 layers (2 or 3
    // pipeline stages), for TP and PP changes that are not multiples.
    return ModelShape{6, 96, 192, 384, v1::DTYPE_BFLOAT16};
  }
  if (name == "moe-hep-small") {
    return ModelShape{2, 64, 0, 256, v1::DTYPE_BFLOAT16, 0, false, 8, 32, true};
  }
  if (name == "moe-hep-medium") {
    return ModelShape{8, 1024, 0, 32000, v1::DTYPE_BFLOAT16, 0, false, 64, 512, true};
  }
  if (name == "qwen3-30b-a3b") {
    // Qwen3-30B-A3B-like MoE: 48 layers of 128 stacked experts (intermediate
    // 768), hidden 2048, Q (32 heads) + K and V (4 KV heads each) of 128, vocab
    // 151936. The attention output stays hidden x hidden (ModelShape has no
    // separate attention width): ~61 GB, 58 GB of it routed experts.
    return ModelShape{48,    2048, 0,   151936, v1::DTYPE_BFLOAT16, (32 + 2 * 4) * 128,
                      false, 128,  768, true};
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "model preset '", name,
      "' is unknown; accepted: tiny, small, reshard-small, transformer-100m, qwen2.5-7b, "
      "moe-small-tensors, moe-hep-small, moe-hep-medium, qwen3-30b-a3b"));
}

std::vector<ParameterLayout> TransformerParameters(const ModelShape& s) {
  std::vector<ParameterLayout> out;
  out.push_back({"embedding.word_embeddings.weight", s.dtype, {s.vocab, s.hidden}, 0});
  for (int l = 0; l < s.layers; ++l) {
    const std::string prefix = absl::StrCat("decoder.layers.", l, ".");
    out.push_back({prefix + "input_layernorm.weight", s.dtype, {s.hidden}, std::nullopt});
    const int64_t qkv_rows = s.qkv_rows > 0 ? s.qkv_rows : 3 * s.hidden;
    out.push_back({prefix + "self_attention.linear_qkv.weight", s.dtype, {qkv_rows, s.hidden}, 0});
    if (s.qkv_bias) {
      out.push_back({prefix + "self_attention.linear_qkv.bias", s.dtype, {qkv_rows}, 0});
    }
    out.push_back({prefix + "self_attention.linear_proj.weight", s.dtype, {s.hidden, s.hidden}, 1});
    out.push_back({prefix + "post_attention_layernorm.weight", s.dtype, {s.hidden}, std::nullopt});
    if (s.experts == 0) {
      out.push_back({prefix + "mlp.linear_fc1.weight", s.dtype, {2 * s.ffn, s.hidden}, 0});
      out.push_back({prefix + "mlp.linear_fc2.weight", s.dtype, {s.hidden, s.ffn}, 1});
    }
    if (s.stacked_experts) {
      const int64_t n = s.experts;
      out.push_back({prefix + "mlp.router.weight", s.dtype, {n, s.hidden}, std::nullopt});
      out.push_back({prefix + "mlp.experts.linear_fc1.weight",
                     s.dtype,
                     {n, 2 * s.expert_ffn, s.hidden},
                     1,
                     0});
      out.push_back(
          {prefix + "mlp.experts.linear_fc2.weight", s.dtype, {n, s.hidden, s.expert_ffn}, 2, 0});
    }
    for (int e = 0; e < s.experts && !s.stacked_experts; ++e) {
      const std::string expert = absl::StrCat(prefix, "mlp.experts.local_experts.", e, ".");
      out.push_back({expert + "linear_fc1.weight", s.dtype, {2 * s.expert_ffn, s.hidden}, 0});
      out.push_back({expert + "linear_fc2.weight", s.dtype, {s.hidden, s.expert_ffn}, 1});
    }
  }
  out.push_back({"decoder.final_layernorm.weight", s.dtype, {s.hidden}, std::nullopt});
  out.push_back({"output_layer.weight", s.dtype, {s.vocab, s.hidden}, 0});
  return out;
}

std::vector<ParameterLayout> PipelineStage(const std::vector<ParameterLayout>& parameters,
                                           int layers, int pp_size, int pp_rank) {
  const int per_stage = layers / pp_size;
  std::vector<ParameterLayout> out;
  for (const ParameterLayout& p : parameters) {
    int layer = -1;
    const std::string prefix = "decoder.layers.";
    if (absl::StartsWith(p.name, prefix)) {
      (void)absl::SimpleAtoi(
          p.name.substr(prefix.size(), p.name.find('.', prefix.size()) - prefix.size()), &layer);
    }
    const bool first = pp_rank == 0, last = pp_rank == pp_size - 1;
    const bool keep = layer >= 0
                          ? layer / per_stage == pp_rank || (last && layer >= per_stage * pp_size)
                          : (first && absl::StartsWith(p.name, "embedding.")) ||
                                (last && !absl::StartsWith(p.name, "embedding."));
    if (keep) out.push_back(p);
  }
  return out;
}

ShardBox BoxOf(const ParameterLayout& parameter, const RankLayout& layout) {
  ShardBox box{std::vector<int64_t>(parameter.full_shape.size(), 0), parameter.full_shape};
  const auto split = [&box](int dim, int parts, int part) {
    box.extent[dim] /= parts;
    box.start[dim] = part * box.extent[dim];
  };
  const bool routed = parameter.expert_dim.has_value();
  if (routed) split(*parameter.expert_dim, layout.expert_parts, layout.expert_part);
  if (parameter.tp_split_dim.has_value() && (!routed || layout.experts_tp_split)) {
    split(*parameter.tp_split_dim, layout.tp_size, layout.tp_rank);
  }
  return box;
}

std::vector<int64_t> ShardShape(const ParameterLayout& parameter, const RankLayout& layout) {
  return BoxOf(parameter, layout).extent;
}

std::vector<client::TensorDecl> ShardDecls(const std::vector<ParameterLayout>& parameters,
                                           const RankLayout& layout) {
  std::vector<client::TensorDecl> out;
  for (const ParameterLayout& p : parameters) {
    out.push_back({p.name, p.dtype, ShardShape(p, layout), p.tp_split_dim, p.expert_dim});
  }
  return out;
}

uint64_t FullBytes(const ParameterLayout& parameter) {
  return Elements(parameter.full_shape) * DTypeSize(parameter.dtype);
}

std::vector<uint64_t> FullTensorWords(const std::string& name, uint64_t bytes, uint64_t seed,
                                      int64_t version) {
  std::vector<uint64_t> words((bytes + 7) / 8);
  const uint64_t key = SplitMix64(seed ^ std::hash<std::string>()(name) ^
                                  SplitMix64(static_cast<uint64_t>(version)));
  for (uint64_t i = 0; i < words.size(); ++i) words[i] = SplitMix64(key + i);
  return words;
}

absl::Status FillShard(const ParameterLayout& parameter, uint64_t seed, int64_t version,
                       const RankLayout& layout, void* out, uint64_t out_bytes) {
  const uint64_t full_bytes = FullBytes(parameter);
  const std::vector<uint64_t> words = FullTensorWords(parameter.name, full_bytes, seed, version);
  const ShardBox box = BoxOf(parameter, layout);
  const std::vector<int64_t> zero(box.extent.size(), 0);
  const BoxCopySpec copy{parameter.full_shape,      box.start, box.extent, zero, box.extent,
                         DTypeSize(parameter.dtype)};
  absl::Status status = CopyBoxOnHost(copy, words.data(), full_bytes, out, out_bytes);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("'", parameter.name, "': ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace paramsync::bench
