"""The typed API around the two integration points and orchestration.

TrainerEndpoint (register, update after a step), InferenceEndpoint (register,
from a vLLM worker, the version held), ParallelLayout, and the Coordinator's
sync progress, groups, sync-every-N schedule and error iterator, against a
real coordinator and two CPU agents, with tensors in shared memory in this
process. There is no vLLM or PyTorch here: a stand-in with a vLLM worker's
attribute path (FakeVllmWorker) holds numpy arrays.
"""

import types
import unittest

import numpy as np

import _cluster  # Puts the package's directory on sys.path.
import paramsync

_SHAPES = {"embed.weight": (8, 4), "norm.weight": (4,)}


def _weights(scale):
    return {name: np.full(shape, scale, np.float32) for name, shape in _SHAPES.items()}


class FakeVllmWorker:
    """A vLLM worker's attribute path, worker.model_runner.model.named_parameters()."""

    def __init__(self, parameters):
        module = types.SimpleNamespace(named_parameters=lambda: iter(parameters.items()))
        self.model_runner = types.SimpleNamespace(model=module)


class ParallelLayoutTest(unittest.TestCase):
    def test_ranks_follow_megatron_and_vllm(self):
        layout = paramsync.ParallelLayout(tp_size=2, pp_size=2, dp_size=3, tp_rank=1,
                                          pp_rank=1, dp_rank=2)
        self.assertEqual(layout.trainer_rank(), 1 * 2 * 3 + 2 * 2 + 1)
        self.assertEqual(layout.local_rank(), 3)
        self.assertEqual(layout.inference_rank(replica=2), 2 * 4 + 3)
        self.assertEqual(layout.registration_arguments()["dp_rank"], 2)

    def test_bad_layouts_are_refused(self):
        with self.assertRaisesRegex(ValueError, r"tp_rank must be in \[0, 2\), got 2"):
            paramsync.ParallelLayout(tp_size=2, tp_rank=2)
        with self.assertRaisesRegex(ValueError, "pp_size must be >= 1"):
            paramsync.ParallelLayout(pp_size=0)
        with self.assertRaisesRegex(ValueError, "replica must be >= 0"):
            paramsync.ParallelLayout().inference_rank(-1)


class VllmModelTest(unittest.TestCase):
    def test_finds_the_module_of_a_worker_a_runner_or_itself(self):
        worker = FakeVllmWorker({})
        module = worker.model_runner.model
        self.assertIs(paramsync.vllm_model(worker), module)
        self.assertIs(paramsync.vllm_model(worker.model_runner), module)
        self.assertIs(paramsync.vllm_model(module), module)
        with self.assertRaisesRegex(TypeError, "found no named_parameters"):
            paramsync.vllm_model(object())


class IntegrationPointsTest(_cluster.ClusterTestCase):
    devices = ["cpu", "cpu"]

    def register_pair(self):
        trainer = paramsync.TrainerEndpoint.register(self.cluster.agents[0], "policy_trainer",
                                                     _weights(1.0))
        self.addCleanup(trainer.close)
        inference = paramsync.InferenceEndpoint.from_vllm(
            self.cluster.agents[1], "policy_vllm",
            FakeVllmWorker({name: np.zeros(shape, np.float32)
                            for name, shape in _SHAPES.items()}))
        self.addCleanup(inference.close)
        self.coordinator.create_group("policy", "policy_trainer", "policy_vllm")
        return trainer, inference

    def test_trainer_updates_reach_inference_with_progress_and_versions(self):
        trainer, inference = self.register_pair()
        self.assertEqual(inference.names, list(_SHAPES))
        self.assertEqual((trainer.rank, inference.rank), (0, 0))
        self.assertEqual(inference.version(), 0)

        trainer.update({"embed.weight": np.full((8, 4), 2.0, np.float32)})
        events = []
        report = self.coordinator.sync("policy", progress=events.append)
        self.assertEqual(report.version, 1)
        self.assertEqual(inference.wait_for_version(1, timeout=5), 1)
        np.testing.assert_array_equal(inference.tensors["embed.weight"], 2.0)
        np.testing.assert_array_equal(inference.tensors["norm.weight"], 1.0)
        self.assertEqual(events[0].phase, "planning")
        self.assertEqual(events[-1].phase, "done")
        self.assertEqual(events[-1].report, report)
        self.assertEqual(events[-1].bytes_done, report.bytes)
        self.assertTrue(all(e.group == "policy" for e in events))
        transferring = [e for e in events if e.phase == "transferring"]
        self.assertEqual([e.agents_done for e in transferring], [0, 1, 2])
        self.assertEqual(transferring[0].version, 1)

        # Trained in place: the shared-memory views are the weights.
        trainer.tensors["norm.weight"][:] = 5.0
        trainer.update()
        self.coordinator.sync("policy")
        np.testing.assert_array_equal(inference.tensors["norm.weight"], 5.0)
        with self.assertRaisesRegex(TimeoutError, "holds version 2, not 3"):
            inference.wait_for_version(3, timeout=0.2)

    def test_update_refuses_unknown_names_and_shapes_before_copying(self):
        trainer, _ = self.register_pair()
        with self.assertRaisesRegex(KeyError, "'bias' is not a registered tensor"):
            trainer.update({"bias": np.zeros(4, np.float32)})
        with self.assertRaisesRegex(ValueError, r"value of shape \(4,\) for a tensor of shape"):
            trainer.update({"norm.weight": np.zeros(4, np.float32),
                            "embed.weight": np.zeros(4, np.float32)})
        np.testing.assert_array_equal(trainer.tensors["norm.weight"], 1.0)
        trainer.close()
        with self.assertRaisesRegex(ValueError, "closed"):
            trainer.update()

    def test_sync_every_n_steps_lists_groups_and_iterates_errors(self):
        trainer, inference = self.register_pair()
        reports = []
        schedule = self.coordinator.sync_every("policy", 2,
                                               on_report=lambda step, r: reports.append(step))
        results = [schedule.step() for _ in range(5)]
        self.assertEqual([r is not None for r in results], [False, True, False, True, False])
        self.assertEqual(reports, [2, 4])
        self.assertEqual(schedule.last_report.version, 2)
        self.assertEqual(inference.version(), 2)
        with self.assertRaises(ValueError):
            self.coordinator.sync_every("policy", 0)

        groups = self.coordinator.list_groups()
        self.assertEqual(len(groups), 1)
        group = groups[0]
        self.assertEqual((group.name, group.src_model, group.dst_model, group.comm_type),
                         ("policy", "policy_trainer", "policy_vllm", "broadcast"))
        self.assertEqual((group.version, group.syncing, group.last_sync_code), (2, False, "OK"))
        self.assertEqual(group.last_report, schedule.last_report)
        self.assertGreater(group.last_sync_unix_ms, 0)

        watch = self.coordinator.collect_errors(3.0)
        self.coordinator.create_group("ghost", "policy_trainer", "nobody")
        with self.assertRaises(paramsync.ParamsyncError) as failed:
            self.coordinator.sync("ghost")
        events = watch.result()
        self.assertTrue(any(e.group == "ghost" and e.code == failed.exception.code
                            for e in events), events)
        ghost = [g for g in self.coordinator.list_groups() if g.name == "ghost"][0]
        self.assertEqual(ghost.last_sync_code, failed.exception.code)
        self.assertIsNone(ghost.last_report)
        self.assertEqual(list(self.coordinator.watch_errors(0.2)), [])


if __name__ == "__main__":
    unittest.main()
