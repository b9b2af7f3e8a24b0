"""LoRA adapters in sync groups, end to end on host agents (shared memory).

A TP2 trainer holds four adapted base weights, column parallel (split along
dimension 0: B split with it, A whole) and row parallel (split along dimension
1: A split, B whole), in bfloat16 and float32, and a tensor without adapter;
a TP2 inference replica receives them.
- lora_mode "merge": every inference base weight equals W + scale * B @ A as
  the contract computes it (a float32 fma chain in order of r, rounded once
  to W's dtype, round to nearest even), across two syncs with new adapter
  values, and the trainer's tensors are bit for bit what they were.
- lora_mode "adapters_only": the inference ranks' registered adapters equal
  the trainer's adapter shards; base weights stay as they are on both sides.
- registration: an adapter whose base weight is missing, or does not fit it,
  is refused naming the tensor.

The reference has no fma (numpy has none): the test's values make every
partial sum of the chain exact in float32 (small integers, halves and
quarters), which the reference checks, so the chain's only rounding is the
final one to bfloat16, and that one is computed here bit for bit (ties
included: values from 128 on have halves to round).
"""

import unittest

import numpy as np

import _cluster  # Puts the package's directory on sys.path.
import paramsync
from paramsync import InferenceEndpoint, LoraAdapter, ParallelLayout, TrainerEndpoint

TP = 2
M, N, R = 8, 6, 4  # Base W [M, N], A [R, N], B [M, R].
_SYNC_TIMEOUT = 60.0

# name -> (dtype, the dimension TP splits W along, scale).
BASES = {
    "qkv": ("bfloat16", 0, 1.5),
    "proj": ("bfloat16", 1, 1.5),
    "up": ("float32", 0, 0.75),
    "down": ("float32", 1, 0.75),
}
NORM = "norm"  # float32 [N], held whole, no adapter.


def bf16_bits(values):
    """float32 values -> bfloat16 bits (uint16), rounded to nearest even (no NaNs here)."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    half, shift = np.uint64(0x7FFF), np.uint64(16)
    return ((bits + half + ((bits >> shift) & np.uint64(1))) >> shift).astype(np.uint16)


def bf16_values(bits):
    """bfloat16 bits (uint16) -> their float32 values."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def merged(w, a, b, scale):
    """W + scale * B @ A as float32: acc = W; acc = fma(f32(scale * B[i, k]), A[k, j], acc).

    Raises AssertionError unless every step is exact in float32 (then fmaf
    and this float64 arithmetic agree bit for bit).
    """
    acc = w.astype(np.float64)
    scaled_b = (np.float32(scale) * b.astype(np.float32)).astype(np.float64)
    for k in range(a.shape[0]):
        acc = acc + np.outer(scaled_b[:, k], a[k, :].astype(np.float64))
        assert np.array_equal(acc.astype(np.float32).astype(np.float64), acc), (
            "test values must keep the fma chain exact in float32")
    return acc.astype(np.float32)


class LoraWeights:
    """Full (unsharded) weights of one training step: W, A and B per base, and the norm.

    Values are float32 arrays; bfloat16 ones are exactly representable in it.
    """

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.w, self.a, self.b = {}, {}, {}
        for name, (dtype, _, _) in BASES.items():
            if dtype == "bfloat16":
                w = bf16_values(bf16_bits(rng.integers(-300, 301, (M, N))))
            else:
                w = rng.integers(-2**22, 2**22, (M, N)) / 256.0
            self.w[name] = w.astype(np.float32)
            self.a[name] = rng.integers(-3, 4, (R, N)).astype(np.float32)
            self.b[name] = rng.integers(-3, 4, (M, R)).astype(np.float32)
        self.norm = (rng.standard_normal(N)).astype(np.float32)

    def merged(self, name):
        return merged(self.w[name], self.a[name], self.b[name], BASES[name][2])


def encode(values, dtype):
    """What a tensor of `dtype` holds for float32 `values` (bfloat16: its bits)."""
    return bf16_bits(values) if dtype == "bfloat16" else values.astype(np.float32)


def shard(full, dim, tp_rank):
    """TP rank `tp_rank`'s shard of `full` split along `dim` (None: whole)."""
    if dim is None:
        return full
    return np.ascontiguousarray(np.split(full, TP, axis=dim)[tp_rank])


def adapter_dims(split):
    """(A's, B's) TP split dimension for a base split along `split`."""
    return (1, None) if split == 1 else (None, 0)


def rank_tensors(weights, adapters=True, bases=True, norm=True):
    """name -> (dtype, TP split dim or None, full values, LoraAdapter or None) of one rank."""
    tensors = {}
    for name, (dtype, split, scale) in BASES.items():
        if bases:
            tensors[name] = (dtype, split, weights.w[name], None)
        if adapters:
            a_dim, b_dim = adapter_dims(split)
            tensors[name + ".lora_A"] = (dtype, a_dim, weights.a[name],
                                         LoraAdapter("A", name, scale))
            tensors[name + ".lora_B"] = (dtype, b_dim, weights.b[name],
                                         LoraAdapter("B", name, scale))
    if norm:
        tensors[NORM] = ("float32", None, weights.norm, None)
    return tensors


def register(cls, agent, model, tp_rank, tensors, **kwargs):
    """Registers `tensors` (rank_tensors' form) as TP rank `tp_rank`; returns the weights."""
    declared = {name: (shard(values, dim, tp_rank).shape, dtype)
                for name, (dtype, dim, values, _) in tensors.items()}
    return cls.register(
        agent, model, declared, layout=ParallelLayout(tp_size=TP, tp_rank=tp_rank),
        tp_split_dims={name: t[1] for name, t in tensors.items() if t[1] is not None},
        lora={name: t[3] for name, t in tensors.items() if t[3] is not None}, **kwargs)


def write(rank_weights, tp_rank, tensors):
    for name, (dtype, dim, values, _) in tensors.items():
        rank_weights.tensors[name][...] = encode(shard(values, dim, tp_rank), dtype)


def snapshot(rank_weights):
    return {name: rank_weights.tensors[name].tobytes() for name in rank_weights.names}


class ReferenceTest(unittest.TestCase):
    """The test's own reference, against values worked out by hand."""

    def test_bfloat16_rounds_to_nearest_even(self):
        values = np.array([257.0, 259.0, 257.5, 128.5, 129.5, -129.5, 1.0, 100.5], np.float32)
        expected = np.array([256.0, 260.0, 258.0, 128.0, 130.0, -130.0, 1.0, 100.5], np.float32)
        np.testing.assert_array_equal(bf16_values(bf16_bits(values)), expected)
        self.assertEqual(int(bf16_bits(np.float32(1.0))), 0x3F80)

    def test_merge_chain(self):
        w = np.array([[10.0, -2.0]], np.float32)
        a = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)  # [r=2, n=2]
        b = np.array([[2.0, 1.0]], np.float32)               # [m=1, r=2]
        # W + 1.5 * B @ A = [10 + 1.5 * (2 + 3), -2 + 1.5 * (4 - 1)].
        np.testing.assert_array_equal(merged(w, a, b, 1.5), [[17.5, 2.5]])
        with self.assertRaises(AssertionError):
            merged(np.array([[2.0**24]], np.float32), a[:1, :1], np.ones((1, 1), np.float32), 1.0)


class LoraSyncTest(_cluster.ClusterTestCase):

    devices = ["cpu:0", "cpu:1", "cpu:2", "cpu:3"]

    def trainer(self, weights):
        """The TP2 trainer "t" on agents 0 and 1, holding `weights` and their adapters."""
        ranks = []
        tensors = rank_tensors(weights)
        for tp_rank in range(TP):
            rank = register(TrainerEndpoint, self.cluster.agents[tp_rank], "t", tp_rank, tensors)
            self.addCleanup(rank.close)
            write(rank, tp_rank, tensors)
            ranks.append(rank)
        return ranks

    def inference(self, tensors):
        """The TP2 inference replica "i" on agents 2 and 3, registering `tensors`."""
        ranks = []
        for tp_rank in range(TP):
            rank = register(InferenceEndpoint, self.cluster.agents[2 + tp_rank], "i", tp_rank,
                            tensors)
            self.addCleanup(rank.close)
            ranks.append(rank)
        return ranks

    def assertHolds(self, rank_weights, tp_rank, name, dtype, dim, values):
        expected = encode(shard(values, dim, tp_rank), dtype)
        np.testing.assert_array_equal(rank_weights.tensors[name], expected,
                                      "%s rank %d: %s" % (rank_weights.model, tp_rank, name))

    def test_merge_syncs_merged_weights_and_restores_the_trainer(self):
        weights = LoraWeights(seed=1)
        trainer = self.trainer(weights)
        inference = self.inference(rank_tensors(weights, adapters=False))
        self.coordinator.create_group("lora", "t", "i", lora_mode="merge")
        self.assertEqual(self.coordinator.list_groups()[0].lora_mode, "merge")

        for step, validate in ((1, False), (2, True)):
            if step == 2:  # The next training step: new adapters (and base weights).
                weights = LoraWeights(seed=2)
                for tp_rank, rank in enumerate(trainer):
                    write(rank, tp_rank, rank_tensors(weights))
            before = [snapshot(rank) for rank in trainer]
            report = self.coordinator.sync("lora", timeout=_SYNC_TIMEOUT, validate=validate)
            self.assertEqual(report.version, step)
            self.assertEqual(report.validated, validate)
            self.assertEqual(report.tensors, TP * (len(BASES) + 1))
            self.assertEqual(report.lora_base_weights, TP * len(BASES))
            self.assertGreater(report.lora_merge_ms, 0.0)
            for tp_rank, rank in enumerate(inference):
                self.assertEqual(rank.version(), step)
                for name, (dtype, split, _) in BASES.items():
                    self.assertHolds(rank, tp_rank, name, dtype, split, weights.merged(name))
                self.assertHolds(rank, tp_rank, NORM, "float32", None, weights.norm)
            for tp_rank, rank in enumerate(trainer):
                self.assertEqual(snapshot(rank), before[tp_rank],
                                 "trainer rank %d changed by sync %d" % (tp_rank, step))
        # The bfloat16 merges had values to round, ties among them.
        for name in ("qkv", "proj"):
            exact = weights.merged(name)
            self.assertTrue(np.any((exact.view(np.uint32) & 0xFFFF) == 0x8000), name)
            self.assertTrue(np.any((exact.view(np.uint32) & 0xFFFF) % 0x8000 != 0), name)

    def test_adapters_only_syncs_adapters_alone(self):
        weights = LoraWeights(seed=3)
        trainer = self.trainer(weights)
        # The inference ranks hold adapters (two of them without a base name)
        # beside base weights and a norm that must stay as they are.
        tensors = rank_tensors(weights)
        for name in ("qkv.lora_A", "qkv.lora_B"):
            dtype, dim, values, adapter = tensors[name]
            tensors[name] = (dtype, dim, values, LoraAdapter(adapter.role, "", adapter.scale))
        inference = self.inference(tensors)
        sentinel = LoraWeights(seed=4)
        for tp_rank, rank in enumerate(inference):
            write(rank, tp_rank, rank_tensors(sentinel, adapters=False))
        before = [snapshot(rank) for rank in trainer]

        self.coordinator.create_group("adapters", "t", "i", lora_mode="adapters_only")
        self.assertEqual(self.coordinator.list_groups()[0].lora_mode, "adapters_only")
        report = self.coordinator.sync("adapters", timeout=_SYNC_TIMEOUT)
        self.assertEqual(report.version, 1)
        self.assertEqual(report.tensors, TP * 2 * len(BASES))
        self.assertEqual(report.lora_base_weights, 0)
        for tp_rank, rank in enumerate(inference):
            for name, (dtype, split, _) in BASES.items():
                a_dim, b_dim = adapter_dims(split)
                self.assertHolds(rank, tp_rank, name + ".lora_A", dtype, a_dim, weights.a[name])
                self.assertHolds(rank, tp_rank, name + ".lora_B", dtype, b_dim, weights.b[name])
                self.assertHolds(rank, tp_rank, name, dtype, split, sentinel.w[name])
            self.assertHolds(rank, tp_rank, NORM, "float32", None, sentinel.norm)
        for tp_rank, rank in enumerate(trainer):
            self.assertEqual(snapshot(rank), before[tp_rank])

    def test_adapters_that_do_not_fit_a_base_are_refused(self):
        agent = self.cluster.agents[0]
        lora_a = LoraAdapter("A", "missing", 2.0)
        error = self.assertRaisesCode(
            "INVALID_ARGUMENT", TrainerEndpoint.register, agent, "t", {
                "w": ((M, N), "float32"), "w.lora_A": ((R, N), "float32")},
            lora={"w.lora_A": lora_a})
        self.assertIn("w.lora_A", error.message)
        self.assertIn("missing", error.message)
        # A [r, n] of a base W [m, n] with another n.
        error = self.assertRaisesCode(
            "INVALID_ARGUMENT", TrainerEndpoint.register, agent, "t2", {
                "w": ((M, N), "float32"), "w.lora_A": ((R, N + 1), "float32")},
            lora={"w.lora_A": LoraAdapter("A", "w", 2.0)})
        self.assertIn("w.lora_A", error.message)


class LoraArgumentTest(unittest.TestCase):
    """Checks made before anything is sent (no daemons needed)."""

    def test_adapter_fields(self):
        self.assertEqual(LoraAdapter("B", "w", 0.5).spec(),
                         {"role": "LORA_ROLE_B", "base": "w", "scale": 0.5})
        for role, base, scale in (("C", "w", 1.0), ("a", "w", 1.0), ("A", "w", 0.0),
                                  ("A", "w", float("nan")), ("A", "w", float("inf")),
                                  ("A", "w", True), ("A", None, 1.0)):
            with self.assertRaises(ValueError, msg=repr((role, base, scale))):
                LoraAdapter(role, base, scale)

    def test_registration_and_group_arguments(self):
        tensors = {"w": ((2, 2), "float32"), "w.lora_A": ((1, 2), "float32")}
        with self.assertRaisesRegex(ValueError, "lora names tensors that are not in tensors: v"):
            paramsync.register_endpoint("127.0.0.1:1", "m", "trainer", 0, tensors=tensors,
                                        lora={"v": LoraAdapter("A", "w", 1.0)})
        with self.assertRaisesRegex(TypeError, r"lora\['w.lora_A'\]"):
            TrainerEndpoint.register("127.0.0.1:1", "m", tensors,
                                     lora={"w.lora_A": {"role": "A"}})
        with self.assertRaisesRegex(ValueError, "lora_mode must be 'merge' or 'adapters_only'"):
            paramsync.Coordinator("127.0.0.1:1").create_group("g", "a", "b", lora_mode="fused")


if __name__ == "__main__":
    unittest.main()
