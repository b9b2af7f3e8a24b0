"""TrainerEndpoint and InferenceEndpoint with PyTorch CPU modules (needs PyTorch).

Registering a module's CPU parameters moves them into shared memory: the
optimizer then trains the shared memory in place, a sync writes the inference
module's parameters in place, and closing gives the tensors private memory
back. Against a real coordinator and two CPU agents, both modules in this
process. Skipped without PyTorch (CI has none; the GPU machine has it).
"""

import types
import unittest

import _cluster  # Puts the package's directory on sys.path.
import paramsync

try:
    import torch
    _TORCH_PROBLEM = None
except Exception as e:  # ImportError, or a broken installation (OSError).
    torch = None
    _TORCH_PROBLEM = "PyTorch is not available (%s: %s)" % (type(e).__name__, e)


class _Model(torch.nn.Module if torch is not None else object):
    """A linear layer, a bfloat16 scale (moved as its bits) and a frozen offset."""

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.linear = torch.nn.Linear(8, 4)
        self.scale = torch.nn.Parameter(torch.rand(4).to(torch.bfloat16))
        self.offset = torch.nn.Parameter(torch.rand(4), requires_grad=False)

    def forward(self, x):
        return self.linear(x) * self.scale.float() + self.offset


@unittest.skipIf(torch is None, _TORCH_PROBLEM)
class TorchWeightsTest(_cluster.ClusterTestCase):
    devices = ["cpu", "cpu"]

    def test_trained_cpu_module_syncs_into_vllm_module_in_place(self):
        trainer_model = _Model(seed=1)
        trainer = paramsync.TrainerEndpoint.from_module(self.cluster.agents[0], "policy_trainer",
                                                        trainer_model)
        self.addCleanup(trainer.close)
        # The frozen offset is not trainable: not registered by the trainer...
        self.assertEqual(trainer.names, ["scale", "linear.weight", "linear.bias"])
        inference_model = _Model(seed=2)
        worker = types.SimpleNamespace(model_runner=types.SimpleNamespace(model=inference_model))
        inference = paramsync.InferenceEndpoint.from_vllm(
            self.cluster.agents[1], "policy_vllm", worker, names=trainer.names)
        self.addCleanup(inference.close)
        self.coordinator.create_group("policy", "policy_trainer", "policy_vllm")

        # The trainer's optimizer writes the shared memory the agent reads.
        optimizer = torch.optim.SGD(trainer_model.parameters(), lr=0.5)
        trainer_model(torch.ones(2, 8)).sum().backward()
        optimizer.step()
        trainer.update()
        self.assertEqual(self.coordinator.sync("policy").version, 1)
        for name, parameter in trainer_model.named_parameters():
            if name in trainer.names:
                self.assertTrue(torch.equal(dict(inference_model.named_parameters())[name],
                                            parameter), name)
        self.assertFalse(torch.equal(inference_model.offset, trainer_model.offset))  # ...nor synced.
        self.assertIs(inference.tensors["linear.weight"], inference_model.linear.weight)
        self.assertEqual(inference.version(), 1)

        # update(values) copies weights computed elsewhere.
        trainer.update({"linear.bias": torch.full((4,), 3.0)})
        self.coordinator.sync("policy")
        self.assertTrue(torch.equal(inference_model.linear.bias, torch.full((4,), 3.0)))

        # Closed, the modules keep working on private copies of their values.
        expected = inference_model.linear.weight.clone()
        inference.close()
        trainer.close()
        self.assertTrue(torch.equal(inference_model.linear.weight, expected))
        inference_model.linear.weight.data.add_(1.0)
        trainer_model(torch.ones(1, 8)).sum().backward()
        optimizer.step()

    def test_mixed_or_unknown_tensors_are_refused(self):
        with self.assertRaisesRegex(TypeError, "mixes torch.Tensor values with others"):
            paramsync.TrainerEndpoint.register(self.cluster.agents[0], "m",
                                               {"a": torch.zeros(2), "b": (2, "float32")})
        with self.assertRaisesRegex(KeyError, "no trainable parameter 'nope'"):
            paramsync.TrainerEndpoint.from_module(self.cluster.agents[0], "m", _Model(1),
                                                  names=["nope"])


if __name__ == "__main__":
    unittest.main()
