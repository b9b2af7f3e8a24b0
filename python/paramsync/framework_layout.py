"""Framework layouts: name the layout a rank's tensors follow instead of their logical pieces.

A Megatron-Core trainer and a vLLM engine hold one model under other names,
fused layouts (Megatron's QKV interleaved per query group, fused gate/up,
vLLM's fused-MoE experts) and parallelism. A rank registered with a
:class:`FrameworkLayout` (``framework_layout=`` of the registration calls)
lets the coordinator derive where every element of every tensor sits in the
model's Hugging Face parameters (paramsync.v1.LayoutSpec), so that a sync
group with ``strategy="direct"`` moves each element to where the other
framework keeps it, with no per-model code::

    config = transformers.AutoConfig.from_pretrained(path)
    trainer = paramsync.TrainerEndpoint.from_module(
        agent, "policy_trainer", megatron_model, layout=layout,
        framework_layout=paramsync.FrameworkLayout.from_hf_config("megatron-core-gpt", config))
    inference = paramsync.InferenceEndpoint.from_vllm(
        agent, "policy_vllm", worker, layout=layout,
        framework_layout=paramsync.FrameworkLayout.from_hf_config("vllm", config))

The rank must register exactly the layout's tensors for its ranks, each of
the layout's shape (the coordinator names any that differ). vLLM's fused-MoE
``w13_weight`` and ``w2_weight`` ([experts, rows, columns]) are registered as
2-D views with their first two dimensions merged (``t.flatten(0, 1)``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping

__all__ = ["FrameworkLayout", "PRESETS"]

PRESETS = ("megatron-core-gpt", "megatron-core-gpt-local", "vllm", "hf")

# paramsync.v1.ModelConfig's fields.
_MODEL_FIELDS = (
    "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "intermediate_size", "vocab_size", "tie_word_embeddings", "attention_bias",
    "qk_norm", "num_experts", "moe_intermediate_size", "shared_expert_intermediate_size",
    "dtype")


@dataclasses.dataclass(frozen=True)
class FrameworkLayout:
    """The framework layout of one rank's tensors (paramsync.v1.LayoutSpec).

    preset: one of :data:`PRESETS`: "megatron-core-gpt" (Megatron-Core GPT
      with the Transformer Engine layer spec), "megatron-core-gpt-local" (the
      local layer spec), "vllm" or "hf" (Hugging Face names, unsharded).
    model: paramsync.v1.ModelConfig fields (see :meth:`from_hf_config`).
    first_layer, num_layers: the layers of this pipeline stage (0, 0: an even
      split of the model's layers by pp_size).
    vocab_padding: Megatron's make_vocab_size_divisible_by or vLLM's padding
      size (0: 128 and 64, the frameworks' defaults).
    expert_tp_size: tensor parallel size of routed experts (0: the preset's
      default).

    The registration's parallel sizes and ranks say which part the rank holds.
    Raises ValueError on construction for an unknown preset or model field.
    """

    preset: str
    model: Mapping[str, Any]
    first_layer: int = 0
    num_layers: int = 0
    vocab_padding: int = 0
    expert_tp_size: int = 0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError("preset must be one of %s, got %r" % (", ".join(PRESETS),
                                                                    self.preset))
        unknown = sorted(set(self.model) - set(_MODEL_FIELDS))
        if unknown:
            raise ValueError("model has unknown field %r; accepted: %s"
                             % (unknown[0], ", ".join(_MODEL_FIELDS)))

    @classmethod
    def from_hf_config(cls, preset: str, config: Any, **options: int) -> "FrameworkLayout":
        """The layout of a Llama, Qwen2, Qwen3, Qwen2-MoE or Qwen3-MoE model.

        config: a transformers PretrainedConfig or its config.json as a dict.
        Qwen2 and Qwen2-MoE have q/k/v biases, Qwen3 and Qwen3-MoE q/k norms
        (from ``model_type``); ``attention_bias`` wins where the config has it.
        options: first_layer, num_layers, vocab_padding, expert_tp_size.
        Raises ValueError for a Qwen2-MoE config with dense layers
        (``mlp_only_layers``, ``decoder_sparse_step`` > 1), which no preset
        describes.
        """
        def get(name: str, default: Any = None) -> Any:
            if isinstance(config, Mapping):
                value = config.get(name, default)
            else:
                value = getattr(config, name, default)
            return default if value is None else value

        model_type = get("model_type", "")
        if get("mlp_only_layers", []) or int(get("decoder_sparse_step", 1)) > 1:
            raise ValueError("config has dense layers among its MoE layers (mlp_only_layers, "
                             "decoder_sparse_step); accepted: every layer MoE or every dense")
        model: Dict[str, Any] = {
            name: int(get(name, 0)) for name in (
                "hidden_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size",
                "num_experts", "moe_intermediate_size", "shared_expert_intermediate_size")}
        model["tie_word_embeddings"] = bool(get("tie_word_embeddings", False))
        model["attention_bias"] = bool(get("attention_bias",
                                           model_type in ("qwen2", "qwen2_moe")))
        model["qk_norm"] = model_type in ("qwen3", "qwen3_moe")
        return cls(preset, model, **options)

    def spec(self) -> Dict[str, Any]:
        """The paramsync.v1.LayoutSpec as a dict (proto JSON field names)."""
        return {"preset": self.preset, "model": dict(self.model),
                "first_layer": int(self.first_layer), "num_layers": int(self.num_layers),
                "vocab_padding": int(self.vocab_padding),
                "expert_tp_size": int(self.expert_tp_size)}
