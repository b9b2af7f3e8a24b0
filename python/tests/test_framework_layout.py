"""Framework layouts (paramsync.FrameworkLayout) against real daemons.

A Megatron-Core trainer rank and a vLLM inference rank of one model register
their own tensor names and fused layouts, each naming its framework layout;
the coordinator derives their logical pieces, and a direct sync moves every
element to where vLLM keeps it (Megatron's per-group interleaved QKV into
vLLM's [q | k | v]; padded vocabulary rows are not synced).

Run from the repository root after
  bazel build //coordinator:paramsync-coordinator //agent:paramsync-agent //client:libparamsync.so
with
  /usr/bin/python3 -m unittest discover -s python/tests -v
"""

import unittest

import numpy as np

import _cluster  # Puts the package's directory on sys.path.
import paramsync

# 4 query heads in 2 groups of head_dim 2, a 16-row vocabulary (Megatron pads
# it to 128 rows, vLLM to 64).
_MODEL = {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4,
          "num_key_value_heads": 2, "head_dim": 2, "intermediate_size": 8, "vocab_size": 16,
          "dtype": "DTYPE_FLOAT32"}

_MEGATRON = {
    "embedding.word_embeddings.weight": (128, 8),
    "decoder.layers.0.self_attention.linear_qkv.layer_norm_weight": (8,),
    "decoder.layers.0.self_attention.linear_qkv.weight": (16, 8),
    "decoder.layers.0.self_attention.linear_proj.weight": (8, 8),
    "decoder.layers.0.mlp.linear_fc1.layer_norm_weight": (8,),
    "decoder.layers.0.mlp.linear_fc1.weight": (16, 8),
    "decoder.layers.0.mlp.linear_fc2.weight": (8, 8),
    "decoder.final_layernorm.weight": (8,),
    "output_layer.weight": (128, 8),
}

_VLLM = {
    "model.embed_tokens.weight": (64, 8),
    "model.layers.0.input_layernorm.weight": (8,),
    "model.layers.0.self_attn.qkv_proj.weight": (16, 8),
    "model.layers.0.self_attn.o_proj.weight": (8, 8),
    "model.layers.0.post_attention_layernorm.weight": (8,),
    "model.layers.0.mlp.gate_up_proj.weight": (16, 8),
    "model.layers.0.mlp.down_proj.weight": (8, 8),
    "model.norm.weight": (8,),
    "lm_head.weight": (64, 8),
}


def _values(shape, offset):
    return (np.arange(int(np.prod(shape)), dtype=np.float32) + offset).reshape(shape)


class FrameworkLayoutSyncTest(_cluster.ClusterTestCase):

    def test_megatron_to_vllm(self):
        trainer = paramsync.TrainerEndpoint.register(
            self.cluster.agents[0], "megatron",
            {name: _values(shape, 1000 * i) for i, (name, shape) in enumerate(_MEGATRON.items())},
            framework_layout=paramsync.FrameworkLayout("megatron-core-gpt", _MODEL))
        self.addCleanup(trainer.close)
        inference = paramsync.InferenceEndpoint.register(
            self.cluster.agents[1], "vllm",
            {name: (shape, "float32") for name, shape in _VLLM.items()},
            framework_layout=paramsync.FrameworkLayout("vllm", _MODEL))
        self.addCleanup(inference.close)
        self.coordinator.create_group("layouts", "megatron", "vllm", strategy="direct")
        report = self.coordinator.sync("layouts", validate=True)
        self.assertEqual(report.version, 1)

        sent, held = trainer.tensors, inference.tensors
        # Megatron's rows, per query group: [q0 q1 k0 v0 | q2 q3 k1 v1] (2 rows
        # a head); vLLM's: [q0 q1 q2 q3 | k0 k1 | v0 v1].
        megatron_qkv = sent["decoder.layers.0.self_attention.linear_qkv.weight"]
        rows = [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15]
        np.testing.assert_array_equal(held["model.layers.0.self_attn.qkv_proj.weight"],
                                      megatron_qkv[rows])
        np.testing.assert_array_equal(held["model.layers.0.mlp.gate_up_proj.weight"],
                                      sent["decoder.layers.0.mlp.linear_fc1.weight"])
        np.testing.assert_array_equal(
            held["model.layers.0.input_layernorm.weight"],
            sent["decoder.layers.0.self_attention.linear_qkv.layer_norm_weight"])
        embedding = held["model.embed_tokens.weight"]
        np.testing.assert_array_equal(embedding[:16],
                                      sent["embedding.word_embeddings.weight"][:16])
        np.testing.assert_array_equal(embedding[16:], np.zeros((48, 8), np.float32))
        np.testing.assert_array_equal(held["lm_head.weight"][:16],
                                      sent["output_layer.weight"][:16])

    def test_tensors_not_in_the_layout_are_refused(self):
        tensors = {name: (shape, "float32") for name, shape in _VLLM.items()}
        tensors["model.layers.0.self_attn.qkv_proj.weight"] = ((12, 8), "float32")
        with self.assertRaises(paramsync.ParamsyncError) as caught:
            paramsync.InferenceEndpoint.register(
                self.cluster.agents[1], "vllm", tensors,
                framework_layout=paramsync.FrameworkLayout("vllm", _MODEL), timeout=10)
        self.assertEqual(caught.exception.code, "INVALID_ARGUMENT")
        self.assertIn("parameter 'model.layers.0.self_attn.qkv_proj.weight' has shape [12,8]; "
                      "accepted: [16,8]", caught.exception.message)


class FrameworkLayoutConfigTest(unittest.TestCase):

    def test_from_hf_config(self):
        qwen2 = {"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24,
                 "num_attention_heads": 14, "num_key_value_heads": 2,
                 "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": True}
        layout = paramsync.FrameworkLayout.from_hf_config("vllm", qwen2, vocab_padding=64)
        spec = layout.spec()
        self.assertEqual(spec["preset"], "vllm")
        self.assertEqual(spec["vocab_padding"], 64)
        self.assertTrue(spec["model"]["attention_bias"])
        self.assertTrue(spec["model"]["tie_word_embeddings"])
        self.assertFalse(spec["model"]["qk_norm"])
        self.assertEqual(spec["model"]["head_dim"], 0)  # hidden_size / heads.
        qwen3_moe = {"model_type": "qwen3_moe", "hidden_size": 2048, "num_experts": 128,
                     "moe_intermediate_size": 768, "head_dim": 128, "attention_bias": False}
        model = paramsync.FrameworkLayout.from_hf_config("hf", qwen3_moe).model
        self.assertTrue(model["qk_norm"])
        self.assertFalse(model["attention_bias"])
        self.assertEqual(model["num_experts"], 128)
        with self.assertRaisesRegex(ValueError, "mlp_only_layers"):
            paramsync.FrameworkLayout.from_hf_config(
                "vllm", {"model_type": "qwen2_moe", "mlp_only_layers": [0]})

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "preset must be one of megatron-core-gpt"):
            paramsync.FrameworkLayout("sglang", {})
        with self.assertRaisesRegex(ValueError, "unknown field 'hidden'"):
            paramsync.FrameworkLayout("vllm", {"hidden": 8})


if __name__ == "__main__":
    unittest.main()
