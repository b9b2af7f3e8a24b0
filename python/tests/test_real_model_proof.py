"""The real-model proof (python/examples/qwen2_real_model_proof.py) in its CPU mode.

A coordinator and four host agents on loopback; the example runs as a user
would, with --device=cpu and the tiny Qwen2 config: two Megatron-Core TP2
trainer processes, vLLM-style inference processes at TP1, TP2 and TP4, a
direct, validated sync per inference TP (twice), and the reassembled
Qwen2ForCausalLM's weights and logits compared bit for bit with the
reference; and the same with LoRA adapters on the trainer, merged for each sync
(the reference: the model with them merged) and restored after it. Needs PyTorch and transformers; skipped, with the reason, without.
"""

import importlib.util
import json
import os
import subprocess
import sys
import unittest

import _cluster  # Puts the package's directory on sys.path.

_SCRIPT = os.path.join(_cluster.REPO_ROOT, "python", "examples", "qwen2_real_model_proof.py")
_MISSING = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
_TIMEOUT_S = 300


@unittest.skipIf(_MISSING, "needs %s (not importable)" % " and ".join(_MISSING))
class RealModelProofTest(_cluster.ClusterTestCase):
    devices = ["cpu"] * 4

    def run_proof(self, *flags):
        """The example's summary rows by inference TP, after checking it passed."""
        result = subprocess.run(
            [sys.executable, _SCRIPT, "--device=cpu", "--config=tiny",
             "--coordinator=" + self.cluster.coordinator_address,
             "--agents=" + ",".join(self.cluster.agents), *flags],
            capture_output=True, text=True, timeout=_TIMEOUT_S)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        rows = {row["tp"]: row for row in summary["results"]}
        self.assertEqual(sorted(rows), [1, 2, 4])
        for tp, row in rows.items():
            self.assertTrue(row["weights_equal"], (tp, row))
            self.assertTrue(row["logits_equal"], (tp, row))
            self.assertEqual(row["max_logit_diff"], 0.0, (tp, row))
            # Direct: exactly the vLLM tensors' bytes, vocabulary padding left out.
            self.assertEqual(row["bytes"], row["expected_bytes"], (tp, row))
            self.assertEqual(len(row["sync_ms"]), 2, (tp, row))
            self.assertTrue(row["trainer_unchanged"], (tp, row))
        return rows

    def test_megatron_tp2_to_vllm_tp1_tp2_tp4_bit_exact(self):
        for row in self.run_proof().values():
            self.assertEqual(row["lora_merged"], 0, row)

    def test_lora_merged_for_the_sync_and_restored_after(self):
        # Adapters on the 4 linear layers of each of the 2 layers, on both trainer ranks.
        for row in self.run_proof("--lora_rank=4").values():
            self.assertEqual(row["lora_merged"], 2 * 4 * 2, row)

if __name__ == "__main__":
    unittest.main()
