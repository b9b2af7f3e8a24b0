"""Tests of paramsync.register_torch_endpoint: PyTorch CUDA tensors shared in place.

- TorchEndpointLogicTest runs anywhere (no PyTorch, no GPU): a stand-in for the
  few torch calls the module makes checks how tensors are located (IPC handle,
  offset, size) and refused, and a host-memory agent checks that the request
  the module builds goes through libparamsync.so.
- TorchArgumentTest needs PyTorch (CPU is enough).
- GpuSyncTest needs PyTorch, 2 CUDA devices and GPU builds of the daemons
  (PARAMSYNC_BIN_DIR=out/ship, PARAMSYNC_LIB=out/ship/client/libparamsync.so;
  see tests/gpu/README.md): a TP1 trainer process on cuda:0 syncs into a TP2
  inference model on cuda:0 and cuda:1 (two-stage), twice, and every byte is
  checked.

Without PyTorch or CUDA those cases are skipped, saying why.
"""

import base64
import json
import os
import types
import unittest
from unittest import mock

import _cluster  # Puts the package's directory on sys.path.
import paramsync
from paramsync import torch_endpoint

try:
    import torch
    _TORCH_PROBLEM = None
except Exception as e:  # ImportError, or a broken installation (OSError).
    torch = None
    _TORCH_PROBLEM = "PyTorch is not available (%s: %s)" % (type(e).__name__, e)

if torch is None:
    _GPU_PROBLEM = _TORCH_PROBLEM
else:
    _CUDA_DEVICES = torch.cuda.device_count() if torch.cuda.is_available() else 0
    _GPU_PROBLEM = None if _CUDA_DEVICES >= 2 else (
        "needs 2 CUDA devices; PyTorch sees %d" % _CUDA_DEVICES)

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
_WORKER = os.path.join(_TESTS_DIR, "_torch_worker.py")
_REPLY_TIMEOUT = 120.0


# -- a stand-in for the torch calls torch_endpoint makes ----------------------

class _Device:
    def __init__(self, kind, index=None):
        self.type, self.index = kind, index

    def __eq__(self, other):
        return isinstance(other, _Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else "%s:%d" % (self.type, self.index)


class _Dtype:
    def __init__(self, name, size):
        self.name, self.size = name, size

    def __str__(self):
        return "torch." + self.name


class _Storage:
    """A storage `nbytes` long at `block_offset` inside an allocation shared as `handle`."""

    def __init__(self, device, pointer, nbytes, handle, block_offset):
        self.device, self.pointer, self.nbytes = device, pointer, nbytes
        self.handle, self.block_offset = handle, block_offset
        self.shares = 0

    def data_ptr(self):
        return self.pointer

    def _share_cuda_(self):
        self.shares += 1
        if isinstance(self.handle, Exception):
            raise self.handle
        return (self.device.index, self.handle, self.nbytes, self.block_offset, b"/ref", 0,
                bytes(64), True)


class _Tensor:
    def __init__(self, storage, dtype, shape, storage_offset=0, contiguous=True):
        self._storage, self.dtype, self.shape = storage, dtype, tuple(shape)
        self._offset, self._contiguous = storage_offset, contiguous
        self.layout = "strided"

    @property
    def device(self):
        return self._storage.device

    def untyped_storage(self):
        return self._storage

    def storage_offset(self):
        return self._offset

    def element_size(self):
        return self.dtype.size

    def numel(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    def is_contiguous(self):
        return self._contiguous

    def stride(self):
        return (1,) * len(self.shape)


def _fake_torch(synchronized):
    fake = types.SimpleNamespace(
        Tensor=_Tensor, strided="strided",
        float32=_Dtype("float32", 4), bfloat16=_Dtype("bfloat16", 2),
        float16=_Dtype("float16", 2), int64=_Dtype("int64", 8))
    fake.cuda = types.SimpleNamespace(synchronize=synchronized.append)
    return fake


def _raw_handle(tag):
    return bytes([tag]) * 64


class _FakeTorchMixin:
    """Makes torch_endpoint see the stand-in instead of PyTorch."""

    def use_fake_torch(self):
        self.synchronized = []
        self.fake = _fake_torch(self.synchronized)
        patcher = mock.patch.object(torch_endpoint, "_torch", lambda: self.fake)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.gpu0 = _Device("cuda", 0)


class TorchEndpointLogicTest(_FakeTorchMixin, unittest.TestCase):
    """register_torch_endpoint with a stand-in for torch (runs without PyTorch)."""

    def setUp(self):
        self.use_fake_torch()

    def _capture(self, **kwargs):
        """Registers through a library stand-in; returns (endpoint, request dict)."""
        sent = []
        attached = []

        class Library:
            def paramsync_register_shared(self, address, request_json, timeout_ms):
                sent.append((address, json.loads(request_json), timeout_ms))
                return 0

            def paramsync_attach(self, address, model, rank, out):
                attached.append((address, model, rank))
                return 0

            def paramsync_detach(self, attachment):
                pass

        with mock.patch.object(paramsync._lib, "library", lambda: Library()):
            endpoint = paramsync.register_torch_endpoint("127.0.0.1:1", "m", "trainer", 0,
                                                         **kwargs)
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0][0], b"127.0.0.1:1")
        # Attached after registering, so the agent learns if this process dies.
        self.assertEqual(attached, [(b"127.0.0.1:1", b"m", 0)])
        return endpoint, sent[0][1]

    def test_handles_and_offsets(self):
        f32, bf16 = self.fake.float32, self.fake.bfloat16
        # Storage a: 4000 bytes at byte 4096 of an allocation (versioned 'c' handle);
        # storage b: at byte 0 of another allocation (a raw handle, PyTorch < 2.5).
        a = _Storage(self.gpu0, 0x7000, 4000, b"\x02c" + _raw_handle(1), 4096)
        b = _Storage(self.gpu0, 0x9000, 512, _raw_handle(2), 0)
        tensors = {
            "w": _Tensor(a, f32, (3, 4), storage_offset=10),   # bytes [4136, 4184)
            "norm": _Tensor(a, f32, (5,)),                      # bytes [4096, 4116)
            "emb": _Tensor(b, bf16, (4, 8), storage_offset=3),  # bytes [6, 70)
        }
        endpoint, request = self._capture(tensors=tensors, tp_split_dims={"emb": 0},
                                          tp_size=1)
        self.assertEqual(a.shares, 1)  # Once per storage.
        self.assertEqual(b.shares, 1)
        self.assertEqual(self.synchronized, [self.gpu0])
        self.assertEqual(request["endpoint"]["role"], "ROLE_TRAINER")
        placed = {t["spec"]["name"]: t for t in request["tensors"]}
        self.assertEqual([t["spec"]["name"] for t in request["tensors"]], ["w", "norm", "emb"])
        self.assertEqual((placed["w"]["offset"], placed["w"]["nbytes"]), ("4136", "48"))
        self.assertEqual((placed["norm"]["offset"], placed["norm"]["nbytes"]), ("4096", "20"))
        self.assertEqual((placed["emb"]["offset"], placed["emb"]["nbytes"]), ("6", "64"))
        for name, tag in (("w", 1), ("norm", 1), ("emb", 2)):
            self.assertEqual(base64.b64decode(placed[name]["cuda_ipc_handle"]), _raw_handle(tag))
        self.assertEqual(placed["emb"]["spec"],
                         {"name": "emb", "dtype": "DTYPE_BFLOAT16", "shape": [4, 8],
                          "tp_split_dim": 0})
        self.assertNotIn("tp_split_dim", placed["w"]["spec"])
        self.assertEqual(endpoint.layout("w"), (4136, 48))
        self.assertEqual(endpoint.names, ["w", "norm", "emb"])
        self.assertIs(endpoint.tensors["w"], tensors["w"])
        self.assertEqual(endpoint.device, self.gpu0)
        endpoint.close()
        self.assertTrue(endpoint.closed)
        with self.assertRaises(ValueError):
            endpoint.tensors
        endpoint.close()  # Idempotent.

    def test_refusals_name_the_tensor(self):
        f32 = self.fake.float32
        good = _Storage(self.gpu0, 0x1000, 64, _raw_handle(1), 0)
        first = _Storage(self.gpu0, 0x2000, 64, _raw_handle(4), 0)
        cases = [
            ({"cpu_w": _Tensor(_Storage(_Device("cpu"), 1, 64, None, 0), f32, (4,))},
             ValueError, "not on a CUDA device"),
            ({"strided_w": _Tensor(good, f32, (2, 2), contiguous=False)},
             ValueError, "not contiguous"),
            ({"empty_w": _Tensor(good, f32, (0, 4))}, ValueError, "no elements"),
            ({"int_w": _Tensor(good, _Dtype("int16", 2), (4,))}, ValueError, "not supported"),
            ({"a": _Tensor(first, f32, (4,)),
              "other_gpu_w": _Tensor(_Storage(_Device("cuda", 1), 2, 64, _raw_handle(3), 0),
                                     f32, (4,))},
             ValueError, "on cuda:1 but"),
            ({"expandable_w": _Tensor(_Storage(self.gpu0, 3, 64, b"\x02e" + bytes(40), 0),
                                      f32, (4,))},
             ValueError, "expandable_segments:True"),
            ({"old_expandable_w": _Tensor(_Storage(self.gpu0, 4, 64, RuntimeError(
                "Tensors allocated with expandable_segments:True cannot be shared"), 0),
                f32, (4,))},
             ValueError, "unset PYTORCH_CUDA_ALLOC_CONF"),
            ({"pool_w": _Tensor(_Storage(self.gpu0, 5, 64, RuntimeError(
                "CUDA error: invalid argument"), 0), f32, (4,))},
             ValueError, "cannot share its memory"),
            ({"past_end_w": _Tensor(good, f32, (4,), storage_offset=13)},
             ValueError, "outside its 64 bytes"),
            ({"not_a_tensor": [1.0, 2.0]}, TypeError, "torch.Tensor"),
        ]
        for tensors, error, text in cases:
            name = list(tensors)[-1]
            with self.subTest(tensor=name):
                with self.assertRaises(error) as caught:
                    self._capture(tensors=tensors)
                self.assertIn(repr(name), str(caught.exception))
                self.assertIn(text, str(caught.exception))
        self.assertEqual(first.shares, 0)  # Nothing is shared before every check passed.
        with self.assertRaises(ValueError):
            self._capture(tensors={"w": _Tensor(good, f32, (4,))}, tp_split_dims={"w": 1})
        with self.assertRaises(ValueError):
            self._capture(tensors={"w": _Tensor(good, f32, (4,))}, tp_split_dims={"v": 0})
        with self.assertRaises(ValueError):
            self._capture(tensors={})
        with self.assertRaises(ValueError):
            paramsync.register_torch_endpoint("127.0.0.1:1", "m", "learner", 0,
                                              tensors={"w": _Tensor(good, f32, (4,))})

class TorchEndpointAgentTest(_FakeTorchMixin, _cluster.ClusterTestCase):
    """What torch_endpoint sends, through libparamsync.so to a host-memory agent."""

    devices = ["cpu"]

    def setUp(self):
        super().setUp()
        self.use_fake_torch()

    def test_request_reaches_the_agent(self):
        # Through the real library: a host-memory agent parses the request and
        # refuses GPU memory, naming the tensor.
        storage = _Storage(self.gpu0, 0x1000, 4096, b"\x02c" + _raw_handle(9), 512)
        error = self.assertRaisesCode(
            "FAILED_PRECONDITION", paramsync.register_torch_endpoint, self.cluster.agents[0],
            "m", "trainer", 0, tensors={"w": _Tensor(storage, self.fake.bfloat16, (8, 4))})
        self.assertIn("'w' is GPU memory", error.message)

    def test_version_asks_the_agent(self):
        with paramsync.register_endpoint(self.cluster.agents[0], "h", "trainer", 0,
                                         tensors={"w": ((4,), "float32")}):
            spec = {"model": "h", "rank": 0, "role": "ROLE_TRAINER"}
            endpoint = torch_endpoint.TorchEndpoint(self.cluster.agents[0], spec, None, [])
            self.assertEqual(endpoint.version(), 0)
            missing = torch_endpoint.TorchEndpoint(
                self.cluster.agents[0], dict(spec, model="nobody"), None, [])
            self.assertRaisesCode("NOT_FOUND", missing.version)
            endpoint.close()
            with self.assertRaises(ValueError):
                endpoint.version()


@unittest.skipUnless(_TORCH_PROBLEM is None, _TORCH_PROBLEM)
class TorchArgumentTest(unittest.TestCase):
    """Refusals found before anything is sent (no daemons needed)."""

    def test_cpu_tensor_is_refused(self):
        with self.assertRaises(ValueError) as caught:
            paramsync.register_torch_endpoint(
                "127.0.0.1:1", "m", "trainer", 0,
                tensors={"layers.0.mlp.weight": torch.zeros(4, 4, dtype=torch.bfloat16)})
        self.assertIn("'layers.0.mlp.weight'", str(caught.exception))
        self.assertIn("not on a CUDA device", str(caught.exception))

    def test_cuda_refusals(self):
        if not torch.cuda.is_available():
            self.skipTest("needs a CUDA device")
        w = torch.zeros(8, 6, device="cuda:0")
        cases = [
            ({"w": w, "host_norm": torch.zeros(6)}, "not on a CUDA device"),
            ({"transposed": w.t()}, "not contiguous"),
            ({"complex": torch.zeros(4, dtype=torch.complex64, device="cuda:0")},
             "not supported"),
        ]
        for tensors, text in cases:
            name = list(tensors)[-1]
            with self.subTest(tensor=name):
                with self.assertRaises(ValueError) as caught:
                    paramsync.register_torch_endpoint("127.0.0.1:1", "m", "trainer", 0,
                                                      tensors=tensors)
                self.assertIn(repr(name), str(caught.exception))
                self.assertIn(text, str(caught.exception))


class TorchWorker(_cluster.WorkerProcess):
    """A framework rank in its own process (see _torch_worker.py)."""

    def __init__(self, log_dir, label, config):
        super().__init__(_WORKER, log_dir, label, config, reply_timeout=_REPLY_TIMEOUT,
                         stop_timeout=20)

    def reply(self):
        answer = self.answer()
        if not answer["ok"]:
            raise AssertionError("worker %s: %s %s" % (self.label, answer["code"],
                                                       answer["message"]))
        return answer

    def call(self, **command):
        self.send(command)
        return self.reply()


# name, dtype, full shape, tp_split_dim (None: every TP rank holds it whole).
_MODEL = [
    ("embed", "bfloat16", (1024, 640), 0),   # 1.3 MB: PyTorch's large-block pool.
    ("attn.proj", "float32", (96, 256), 1),
    ("mlp.fc1", "bfloat16", (384, 64), 0),
    ("mlp.fc2", "bfloat16", (128, 384), 1),
    ("norm", "float32", (640,), None),
    ("bias", "bfloat16", (384,), None),
]


def _shard(shape, split, tp_size, tp_rank):
    if split is None:
        return tuple(shape), None
    size = shape[split] // tp_size
    shape = list(shape)
    shape[split] = size
    return tuple(shape), (split, tp_rank * size, size)


def _bits(tensor):
    """The tensor's bits as integers, so that equality is bit for bit (NaNs included)."""
    return tensor.view({2: torch.int16, 4: torch.int32}[tensor.element_size()])


@unittest.skipUnless(_GPU_PROBLEM is None, _GPU_PROBLEM)
class GpuSyncTest(_cluster.ClusterTestCase):
    """PyTorch processes on 2 GPUs, each beside its GPU's agent (--device=cuda:N)."""

    devices = ["cuda:0", "cuda:1"]

    def worker(self, label, agent, device, model, role, rank, tensors, **kwargs):
        config = {"agent": self.cluster.agents[agent], "device": device, "model": model,
                  "role": role, "rank": rank, "kwargs": kwargs,
                  "tensors": [[name, dtype, list(shape)] for name, dtype, shape in tensors]}
        worker = TorchWorker(self.cluster.log_dir, label, config)
        self.cluster.track(worker, worker.log_path)
        worker.reply()  # Registered.
        return worker

    def test_tp1_trainer_to_tp2_inference(self):
        splits = {name: split for name, _, _, split in _MODEL if split is not None}
        trainer = self.worker("trainer", 0, 0, "policy", "trainer", 0,
                              [(n, d, s) for n, d, s, _ in _MODEL], tp_split_dims=splits)
        inference = [
            self.worker("inference%d" % r, r, r, "vllm", "inference", r,
                        [(n, d, _shard(s, split, 2, r)[0]) for n, d, s, split in _MODEL],
                        replica=0, local_rank=r, tp_size=2, tp_rank=r, tp_split_dims=splits)
            for r in range(2)]
        for worker in [trainer] + inference:
            layout = worker.call(op="layout")["layout"]
            # The tensors sit at assorted offsets inside their allocations.
            self.assertGreater(len({offset for offset, _ in layout.values()}), 1, layout)
        self.coordinator.create_group("policy_to_vllm", "policy", "vllm")

        for version in (1, 2):
            full = {}
            for i, (name, dtype, shape, _) in enumerate(_MODEL):
                generator = torch.Generator().manual_seed(1000 * version + i)
                full[name] = torch.randn(shape, generator=generator).to(getattr(torch, dtype))
                trainer.call(op="write", name=name,
                             data=base64.b64encode(_cpu_bytes(full[name])).decode("ascii"))
            report = self.coordinator.sync("policy_to_vllm", timeout=120)
            self.assertEqual(report.version, version)
            self.assertGreater(report.bytes, 0)
            for r, worker in enumerate(inference):
                self.assertEqual(worker.call(op="version")["version"], version)
                for name, dtype, shape, split in _MODEL:
                    shard_shape, narrow = _shard(shape, split, 2, r)
                    expected = full[name] if narrow is None else full[name].narrow(*narrow)
                    data = bytearray(base64.b64decode(worker.call(op="read", name=name)["data"]))
                    got = torch.frombuffer(data, dtype=getattr(torch, dtype)).view(shard_shape)
                    self.assertTrue(torch.equal(_bits(got), _bits(expected.contiguous())),
                                    "inference rank %d, %s, version %d" % (r, name, version))
                guards = worker.call(op="guards")
                self.assertEqual(guards["broken"], [], "bytes written outside the tensors")
            self.assertEqual(trainer.call(op="guards")["broken"], [])


def _cpu_bytes(tensor):
    """The bytes of a CPU tensor (no numpy needed)."""
    import ctypes
    tensor = tensor.contiguous()
    return ctypes.string_at(tensor.data_ptr(), tensor.numel() * tensor.element_size())


if __name__ == "__main__":
    unittest.main()
