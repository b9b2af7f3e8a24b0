"""End-to-end tests of the paramsync Python client against real daemons.

Each test starts a coordinator and three agents (CPU mode) from bazel-bin, and
framework ranks either as separate worker processes (_endpoint_worker.py) or in
this process. Daemon and worker logs stay in a temporary directory and are
printed only when a test fails.

Run from the repository root after
  bazel build //coordinator:paramsync-coordinator //agent:paramsync-agent //client:libparamsync.so
with
  /usr/bin/python3 -m unittest discover -s python/tests -v
"""

import base64
import json
import os
import sys
import threading
import time
import unittest

import numpy as np

import _cluster  # Puts the package's directory on sys.path.
import paramsync

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
_WORKER = os.path.join(_TESTS_DIR, "_endpoint_worker.py")

_REPLY_TIMEOUT = 60.0


def _b64(array):
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


class Worker(_cluster.WorkerProcess):
    """A framework rank in its own process (see _endpoint_worker.py)."""

    def __init__(self, log_dir, label, agent, model, role, rank, tensors, **kwargs):
        spec = {}
        for name, value in tensors.items():
            if isinstance(value, tuple):
                spec[name] = {"shape": list(value[0]), "dtype": value[1]}
            else:
                spec[name] = {"shape": list(value.shape), "dtype": value.dtype.name,
                              "data": _b64(value)}
        config = {"agent": agent, "model": model, "role": role, "rank": rank,
                  "kwargs": kwargs, "tensors": spec}
        super().__init__(_WORKER, log_dir, label, config, reply_timeout=_REPLY_TIMEOUT,
                         stop_timeout=5)
        self.registration = self.answer()

    def call(self, **command):
        self.send(command)
        answer = self.answer()
        if not answer["ok"]:
            raise AssertionError("worker %s: %s failed: %s %s" % (
                self.label, command.get("op"), answer["code"], answer["message"]))
        return answer

    def read(self, name):
        return base64.b64decode(self.call(op="read", name=name)["data"])

    def write(self, name, array):
        self.call(op="write", name=name, data=_b64(array))

    def version(self):
        return self.call(op="version")["version"]


class Cluster(_cluster.Cluster):
    """The daemons, and framework ranks in worker processes (_endpoint_worker.py)."""

    def worker(self, agent_index, model, role, rank, tensors, **kwargs):
        label = "worker-%s-%d" % (model, rank)
        if any(w.label == label for w in self.workers):
            label += "-%d" % len(self.workers)
        worker = Worker(self.log_dir, label, self.agents[agent_index], model, role, rank,
                        tensors, **kwargs)
        self.track(worker, worker.log_path)
        if not worker.registration["ok"]:
            raise AssertionError("registering %s rank %d failed: %s %s" % (
                model, rank, worker.registration["code"], worker.registration["message"]))
        return worker


class ClusterTestCase(_cluster.ClusterTestCase):
    cluster_class = Cluster


class TwoReplicaTest(ClusterTestCase):

    def test_broadcast_to_two_replicas(self):
        rng = np.random.default_rng(7)
        trainer_values = {
            "embed": rng.standard_normal((16, 8)).astype(np.float32),
            "w": rng.standard_normal((8, 4)).astype(np.float32),
            "norm": rng.standard_normal((4,)).astype(np.float32),
        }
        trainer = self.cluster.worker(0, "t", "trainer", 0, trainer_values)
        specs = {name: (a.shape, "float32") for name, a in trainer_values.items()}
        inference = [
            self.cluster.worker(1 + r, "i", "inference", r, specs, replica=r, local_rank=0)
            for r in range(2)]
        for worker in inference:
            self.assertEqual(worker.version(), 0)
            for name, a in trainer_values.items():
                self.assertEqual(worker.read(name), bytes(a.nbytes))

        self.coordinator.create_group("g", "t", "i")
        plan = self.coordinator.plan("g")
        self.assertEqual(plan["tpNumMapping"], 1)
        self.assertEqual(plan["commType"], "COMM_TYPE_BROADCAST")

        report = self.coordinator.sync("g")
        self.assertIsInstance(report, paramsync.SyncReport)
        self.assertEqual(report.version, 1)
        self.assertEqual(report.tensors, 2 * len(trainer_values))
        self.assertEqual(report.bytes, 2 * sum(a.nbytes for a in trainer_values.values()))
        self.assertGreater(report.duration_ms, 0.0)
        self.assertTrue(report.stages)
        self.assertEqual(report.stages[0][0], "stage1")
        for worker in inference:
            self.assertEqual(worker.version(), 1)
            for name, a in trainer_values.items():
                self.assertEqual(worker.read(name), a.tobytes(), name)

        # New trainer values travel with the next sync.
        for name, a in trainer_values.items():
            trainer_values[name] = (a * 2 + 1).astype(np.float32)
            trainer.write(name, trainer_values[name])
        report = self.coordinator.sync("g")
        self.assertEqual(report.version, 2)
        for worker in inference:
            self.assertEqual(worker.version(), 2)
            for name, a in trainer_values.items():
                self.assertEqual(worker.read(name), a.tobytes(), name)

        status = self.coordinator.status()
        self.assertEqual(len(status["agents"]["agents"]), 3)
        versions = {(e["endpoint"]["model"], e["endpoint"].get("rank", 0)): int(e["version"])
                    for e in status["endpoints"]["endpoints"]}
        self.assertEqual(versions[("i", 0)], 2)
        self.assertEqual(versions[("i", 1)], 2)

    def test_unknown_group(self):
        error = self.assertRaisesCode("NOT_FOUND", self.coordinator.sync, "no-such-group")
        self.assertIn("no-such-group", error.message)
        self.assertRaisesCode("NOT_FOUND", self.coordinator.plan, "no-such-group")

    def test_same_rank_from_another_agent(self):
        self.cluster.worker(0, "t", "trainer", 0, {"w": ((4,), "float32")})
        self.assertRaisesCode(
            "ALREADY_EXISTS", paramsync.register_endpoint, self.cluster.agents[1], "t",
            "trainer", 0, tensors={"w": ((4,), "float32")})

    def test_dtype_mismatch(self):
        self.cluster.worker(0, "t", "trainer", 0,
                            {"w": np.ones((4, 4), np.float32), "b": np.ones(4, np.float32)})
        self.cluster.worker(1, "i", "inference", 0,
                            {"w": ((4, 4), "float16"), "b": ((4,), "float32")})
        self.coordinator.create_group("g", "t", "i")

        # The failure is also published on the error channel.
        seen = threading.Event()
        events = []

        def on_event(event):
            events.append(event)
            if event.group == "g" and event.code == "FAILED_PRECONDITION":
                seen.set()
                return True
            return False

        watcher = threading.Thread(
            target=self.coordinator.watch_errors, args=(20.0, on_event), daemon=True)
        watcher.start()
        for _ in range(40):  # The watch may not be established before the first sync.
            error = self.assertRaisesCode("FAILED_PRECONDITION", self.coordinator.sync, "g")
            self.assertIn("'w'", error.message)
            self.assertIn("float16", error.message)
            if seen.wait(0.5):
                break
        watcher.join(25)
        self.assertTrue(seen.is_set(), "no FAILED_PRECONDITION event for group g: %r" % events)
        event = [e for e in events if e.group == "g"][0]
        self.assertIn("'w'", event.message)
        self.assertEqual(event.version, 1)
        self.assertEqual(event.code_value, 9)


class TensorParallelSplitTest(ClusterTestCase):

    def test_tp1_to_tp2(self):
        w = np.arange(32, dtype=np.float32).reshape(8, 4)
        norm = np.array([0.5, 1.5, 2.5, 3.5], dtype=np.float32)
        self.cluster.worker(0, "t", "trainer", 0, {"w": w, "norm": norm},
                            tp_split_dims={"w": 0})
        ranks = [
            self.cluster.worker(1 + r, "i", "inference", r,
                                {"w": ((4, 4), "float32"), "norm": ((4,), "float32")},
                                tp_size=2, tp_rank=r, replica=0, local_rank=r,
                                tp_split_dims={"w": 0})
            for r in range(2)]
        self.coordinator.create_group("split", "t", "i")
        self.assertEqual(self.coordinator.plan("split")["tpNumMapping"], 2)
        report = self.coordinator.sync("split")
        self.assertEqual(report.version, 1)
        self.assertEqual(report.bytes, 2 * (w.nbytes // 2 + norm.nbytes))
        for r, worker in enumerate(ranks):
            self.assertEqual(worker.read("w"), w[4 * r:4 * r + 4].tobytes(), "rank %d" % r)
            self.assertEqual(worker.read("norm"), norm.tobytes(), "rank %d" % r)
            self.assertEqual(worker.version(), 1)


class ValidationTest(ClusterTestCase):
    """Syncs validated by digests of every destination tensor against its source."""

    def test_validated_tp1_to_tp2(self):
        w = np.arange(64, dtype=np.float32).reshape(8, 8)
        self.cluster.worker(0, "t", "trainer", 0, {"w": w}, tp_split_dims={"w": 1})
        ranks = [
            self.cluster.worker(1 + r, "i", "inference", r, {"w": ((8, 4), "float32")},
                                tp_size=2, tp_rank=r, replica=0, local_rank=r,
                                tp_split_dims={"w": 1})
            for r in range(2)]
        self.coordinator.create_group("on_request", "t", "i")
        self.coordinator.create_group("always", "t", "i", validate=True)
        report = self.coordinator.sync("on_request", validate=True)
        self.assertTrue(report.validated)
        self.assertGreater(report.validate_ms, 0.0)
        self.assertFalse(self.coordinator.sync("on_request").validated)
        self.assertTrue(self.coordinator.sync("always").validated)
        groups = {g.name: g for g in self.coordinator.list_groups()}
        self.assertTrue(groups["always"].validate)
        self.assertFalse(groups["on_request"].validate)
        for r, worker in enumerate(ranks):
            self.assertEqual(worker.read("w"), np.ascontiguousarray(w[:, 4 * r:4 * r + 4]).tobytes())


class HyperExpertParallelTest(ClusterTestCase):
    """A HEP group: routed experts regrouped by the trainer ranks."""

    devices = ["cpu:0", "cpu:1", "cpu:2", "cpu:3"]

    def test_hep_routed_experts_regrouped(self):
        # Trainer EP2 x TP1: rank e holds experts [4e, 4e+4) of 8 (stacked on
        # dim 0, each 4 x 2); inference TP2 in the expert layout: rank r holds
        # the same block, so the regroup is all-to-all among the trainer ranks.
        experts = np.arange(8 * 4 * 2, dtype=np.float32).reshape(8, 4, 2)
        dense = np.arange(8, dtype=np.float32).reshape(4, 2) + 100
        for e in range(2):
            self.cluster.worker(e, "moe", "trainer", e,
                                {"experts": experts[4 * e:4 * e + 4], "dense": dense},
                                ep_size=2, ep_rank=e, dp_size=2, dp_rank=e,
                                tp_split_dims={"experts": 1, "dense": 0},
                                expert_dims={"experts": 0})
        ranks = [
            self.cluster.worker(2 + r, "moe_vllm", "inference", r,
                                {"experts": ((4, 4, 2), "float32"), "dense": ((2, 2), "float32")},
                                tp_size=2, tp_rank=r, local_rank=r,
                                tp_split_dims={"experts": 1, "dense": 0},
                                expert_dims={"experts": 0})
            for r in range(2)]
        self.coordinator.create_group("hep", "moe", "moe_vllm", hep=True,
                                      regroup_comm_type="allgather")
        report = self.coordinator.sync("hep")
        self.assertEqual(report.version, 1)
        for r, worker in enumerate(ranks):
            self.assertEqual(worker.read("experts"), experts[4 * r:4 * r + 4].tobytes())
            self.assertEqual(worker.read("dense"), dense[2 * r:2 * r + 2].tobytes())



class DirectStrategyTest(ClusterTestCase):
    """A group with the direct strategy: TP2 -> TP3, which chatlearn cannot sync."""

    devices = ["cpu:0", "cpu:1", "cpu:2", "cpu:3", "cpu:4"]

    def test_tp2_to_tp3(self):
        w = np.arange(12 * 4, dtype=np.float32).reshape(12, 4)
        proj = np.arange(4 * 12, dtype=np.float32).reshape(4, 12) + 1000
        for r in range(2):
            self.cluster.worker(r, "t", "trainer", r,
                                {"w": w[6 * r:6 * r + 6], "proj": proj[:, 6 * r:6 * r + 6]},
                                tp_size=2, tp_rank=r, tp_split_dims={"w": 0, "proj": 1})
        ranks = [
            self.cluster.worker(2 + r, "i", "inference", r,
                                {"w": ((4, 4), "float32"), "proj": ((4, 4), "float32")},
                                tp_size=3, tp_rank=r, replica=0, local_rank=r,
                                tp_split_dims={"w": 0, "proj": 1})
            for r in range(3)]
        self.coordinator.create_group("direct", "t", "i", strategy="direct", validate=True)
        plan = self.coordinator.plan("direct")
        self.assertEqual(plan["strategy"], "SYNC_STRATEGY_KIND_DIRECT")
        self.assertEqual(int(plan["wireBytes"]), w.nbytes + proj.nbytes)
        report = self.coordinator.sync("direct")
        self.assertTrue(report.validated)
        self.assertEqual(report.bytes, w.nbytes + proj.nbytes)
        self.assertEqual(report.wire_bytes, report.bytes)
        for r, worker in enumerate(ranks):
            self.assertEqual(worker.read("w"), w[4 * r:4 * r + 4].tobytes(), "rank %d" % r)
            self.assertEqual(worker.read("proj"),
                             np.ascontiguousarray(proj[:, 4 * r:4 * r + 4]).tobytes(), "rank %d" % r)
        groups = {g.name: g for g in self.coordinator.list_groups()}
        self.assertEqual(groups["direct"].strategy, "direct")
        # The same topology under chatlearn is refused: 3 is not a multiple of 2.
        self.coordinator.create_group("seed", "t", "i")
        self.assertEqual(self.coordinator.list_groups()[1].strategy, "chatlearn")
        self.assertRaisesCode("INVALID_ARGUMENT", self.coordinator.sync, "seed")
        with self.assertRaises(ValueError):
            self.coordinator.create_group("g", "t", "i", strategy="ring")


class InProcessTest(ClusterTestCase):
    """Endpoints registered from this process: numpy views, bfloat16, buffer()."""

    def test_views_bfloat16_and_buffers(self):
        trainer = paramsync.register_endpoint(
            self.cluster.agents[0], "tb", "trainer", 0,
            tensors={"h": ((3, 5), "bfloat16"), "n": np.arange(6, dtype=np.int64),
                     "s": ((), "float64")})
        self.addCleanup(trainer.close)
        with paramsync.register_endpoint(
                self.cluster.agents[1], "ib", "inference", 0,
                tensors={"h": ((3, 5), "bfloat16"), "n": ((6,), "int64"),
                         "s": ((), "float64")}) as inference:
            self.assertEqual(trainer.tensors["h"].dtype, np.uint16)
            self.assertEqual(trainer.tensors["h"].shape, (3, 5))
            self.assertEqual(trainer.dtype("h"), "bfloat16")
            self.assertEqual(trainer.tensors["n"].tolist(), list(range(6)))
            bits = np.arange(15, dtype=np.uint16).reshape(3, 5) * 1000
            trainer.tensors["h"][...] = bits
            trainer.tensors["s"][...] = 2.25
            self.assertEqual(inference.version(), 0)

            self.coordinator.create_group("b", "tb", "ib", comm_type="p2p", free_groups=True)
            report = self.coordinator.sync("b", timeout=60)
            self.assertEqual(report.version, 1)
            self.assertEqual(inference.version(), 1)
            np.testing.assert_array_equal(inference.tensors["h"], bits)
            np.testing.assert_array_equal(inference.tensors["n"], np.arange(6))
            self.assertEqual(float(inference.tensors["s"]), 2.25)
            self.assertEqual(bytes(inference.buffer("h")), bits.tobytes())
            self.assertEqual(inference.nbytes("h"), 30)

            # Writes through a buffer are what the next sync sends.
            trainer.buffer("n")[:8] = (123).to_bytes(8, sys.byteorder)
            self.assertEqual(self.coordinator.sync("b").version, 2)
            self.assertEqual(int(inference.tensors["n"][0]), 123)
            self.assertEqual(inference.version(), 2)
        self.assertTrue(inference.closed)
        with self.assertRaises(ValueError):
            inference.tensors
        with self.assertRaises(ValueError):
            inference.version()
        inference.close()  # Idempotent.

    def test_errors_generator(self):
        self.coordinator.create_group("e", "missing-src", "missing-dst")
        collector = self.coordinator.collect_errors(3.0)
        time.sleep(0.5)  # Let the watch be established.
        self.assertRaises(paramsync.ParamsyncError, self.coordinator.sync, "e")
        events = [e for e in collector.result() if e.group == "e"]
        self.assertTrue(events)
        self.assertIsInstance(events[0], paramsync.ErrorEvent)
        # Events of failing syncs, until stopped.
        stop = threading.Event()

        def fail_syncs():
            while not stop.wait(0.2):
                try:
                    self.coordinator.sync("e")
                except paramsync.ParamsyncError:
                    pass

        failer = threading.Thread(target=fail_syncs, daemon=True)
        failer.start()
        try:
            # A generator consumed one event at a time, closed early.
            events = self.coordinator.errors(10.0)
            event = next(events)
            events.close()
            self.assertEqual(event.group, "e")
            self.assertEqual(event.code, "NOT_FOUND")

            # An exception raised by the callback stops the watch and comes back.
            def callback(event):
                raise KeyError("from the callback")

            with self.assertRaises(KeyError):
                self.coordinator.watch_errors(10.0, callback)
            # A callback returning True stops the watch after one event.
            self.assertEqual(self.coordinator.watch_errors(10.0, lambda event: True), 1)
        finally:
            stop.set()
            failer.join(10)

        # The generator ends by itself at its timeout.
        start = time.monotonic()
        self.assertEqual(list(self.coordinator.errors(0.3)), [])
        self.assertLess(time.monotonic() - start, 10)


def _register_shared(agent, request, timeout_ms=20000):
    """paramsync_register_shared; raises ParamsyncError."""
    from paramsync import _lib
    request_json = request if request is None or isinstance(request, bytes) else \
        json.dumps(request).encode()
    _lib.check(_lib.library().paramsync_register_shared(agent, request_json, timeout_ms))


def _query_version(agent, model, rank, timeout_ms=10000):
    """paramsync_query_version; raises ParamsyncError."""
    import ctypes
    from paramsync import _lib
    version = ctypes.c_int64(-1)
    _lib.check(_lib.library().paramsync_query_version(
        agent, model, rank, timeout_ms, ctypes.byref(version)))
    return version.value


class SharedRegistrationTest(ClusterTestCase):
    """paramsync_register_shared and paramsync_query_version of the C ABI.

    Tensors placed by the caller: here in a POSIX shared-memory region this
    process created (register_torch_endpoint places CUDA tensors the same way).
    """

    def test_caller_placed_host_tensors(self):
        from multiprocessing import shared_memory
        w = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
        norm = np.linspace(-1, 1, 5).astype(np.float32)
        region = shared_memory.SharedMemory(create=True, size=4096)
        self.addCleanup(region.unlink)
        self.addCleanup(region.close)
        # w at offset 128, norm at offset 1000 (any offset inside the region).
        region.buf[128:128 + w.nbytes] = w.tobytes()
        region.buf[1000:1000 + norm.nbytes] = norm.tobytes()
        shm_name = "/" + region.name
        request = {
            "endpoint": {"model": "t", "role": "ROLE_TRAINER", "rank": 0,
                         "parallel": {"tp_size": 1, "pp_size": 1, "ep_size": 1, "dp_size": 1}},
            "tensors": [
                {"spec": {"name": "w", "dtype": "DTYPE_FLOAT32", "shape": [4, 3]},
                 "shmName": shm_name, "offset": "128", "nbytes": str(w.nbytes)},
                {"spec": {"name": "norm", "dtype": "DTYPE_FLOAT32", "shape": [5]},
                 "shm_name": shm_name, "offset": 1000, "nbytes": norm.nbytes},
            ],
        }
        agent = self.cluster.agents[0].encode()
        _register_shared(agent, request)
        self.assertEqual(_query_version(agent, b"t", 0), 0)

        with paramsync.register_endpoint(self.cluster.agents[1], "i", "inference", 0,
                                         tensors={"w": ((4, 3), "float32"),
                                                  "norm": ((5,), "float32")}) as inference:
            self.coordinator.create_group("g", "t", "i")
            self.assertEqual(self.coordinator.sync("g").version, 1)
            np.testing.assert_array_equal(inference.tensors["w"], w)
            np.testing.assert_array_equal(inference.tensors["norm"], norm)
            self.assertEqual(_query_version(self.cluster.agents[1].encode(), b"i", 0), 1)

            # The agent reads the caller's memory in place at every sync.
            region.buf[1000:1000 + norm.nbytes] = (norm * 3).tobytes()
            self.assertEqual(self.coordinator.sync("g").version, 2)
            np.testing.assert_array_equal(inference.tensors["norm"], norm * 3)
            self.assertEqual(_query_version(self.cluster.agents[1].encode(), b"i", 0), 2)

    def test_errors(self):
        agent = self.cluster.agents[0].encode()
        good = {"endpoint": {"model": "t", "role": "ROLE_TRAINER", "rank": 0}, "tensors": []}
        for address in (None, b""):
            error = self.assertRaisesCode("INVALID_ARGUMENT", _register_shared, address, good)
            self.assertIn("address", error.message)
            self.assertRaisesCode("INVALID_ARGUMENT", _query_version, address, b"t", 0)
        error = self.assertRaisesCode("INVALID_ARGUMENT", _register_shared, agent, None)
        self.assertIn("request_json is NULL", error.message)
        error = self.assertRaisesCode("INVALID_ARGUMENT", _register_shared, agent, b"{not json")
        self.assertIn("LocalRegisterEndpointRequest", error.message)
        for model in (None, b""):
            error = self.assertRaisesCode("INVALID_ARGUMENT", _query_version, agent, model, 0)
            self.assertIn("model", error.message)
        error = self.assertRaisesCode("INVALID_ARGUMENT", _query_version, agent, b"t", -1)
        self.assertIn("rank", error.message)
        from paramsync import _lib
        error = self.assertRaisesCode(
            "INVALID_ARGUMENT", _lib.check,
            _lib.library().paramsync_query_version(agent, b"t", 0, 1000, None))
        self.assertIn("version is NULL", error.message)
        self.assertRaisesCode("NOT_FOUND", _query_version, agent, b"nobody", 0)

        # A CUDA IPC handle given to an agent that serves host memory.
        gpu = {"endpoint": {"model": "t", "role": "ROLE_TRAINER", "rank": 0},
               "tensors": [{"spec": {"name": "w", "dtype": "DTYPE_FLOAT32", "shape": [2]},
                            "cudaIpcHandle": base64.b64encode(bytes(64)).decode(),
                            "offset": 256, "nbytes": 8}]}
        error = self.assertRaisesCode("FAILED_PRECONDITION", _register_shared, agent, gpu)
        self.assertIn("'w' is GPU memory", error.message)


class ArgumentTest(unittest.TestCase):
    """Checks made before anything is sent (no daemons needed)."""

    def test_bad_arguments(self):
        register = paramsync.register_endpoint
        with self.assertRaises(ValueError):
            register("127.0.0.1:1", "m", "learner", 0, tensors={"w": ((1,), "float32")})
        with self.assertRaises(ValueError):
            register("127.0.0.1:1", "m", "trainer", 0, tensors={"w": ((1,), "complex64")})
        with self.assertRaises(ValueError):
            register("127.0.0.1:1", "m", "trainer", 0, tensors={})
        with self.assertRaises(ValueError):
            register("127.0.0.1:1", "m", "trainer", 0, tensors={"w": ((2,), "float32")},
                     tp_split_dims={"w": 1})
        with self.assertRaises(ValueError):
            register("127.0.0.1:1", "m", "trainer", 0, tensors={"w": ((2,), "float32")},
                     tp_split_dims={"v": 0})
        with self.assertRaises(ValueError):
            register("127.0.0.1:1", "m", "trainer", 0, tensors={"w": ((2, 2), "float32")},
                     tp_split_dims={"w": 0}, expert_dims={"w": 0})
        with self.assertRaises(ValueError):
            paramsync.Coordinator("127.0.0.1:1").create_group("g", "a", "b", hep=True,
                                                              regroup_comm_type="ring")
        with self.assertRaises(TypeError):
            register("127.0.0.1:1", "m", "trainer", 0, tensors={"w": np.zeros(2, np.uint16)})
        with self.assertRaises(ValueError):
            paramsync.Coordinator("127.0.0.1:1").create_group("g", "a", "b", comm_type="ring")

    def test_error_type(self):
        error = paramsync.ParamsyncError(5, "gone")
        self.assertEqual((error.code, error.code_value, error.message), ("NOT_FOUND", 5, "gone"))
        self.assertEqual(str(error), "NOT_FOUND: gone")
        self.assertIsInstance(error, RuntimeError)

    def test_unreachable_coordinator(self):
        # A port nothing listens on (bound, then closed).
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with self.assertRaises(paramsync.ParamsyncError) as caught:
            paramsync.Coordinator("127.0.0.1:%d" % port).status(timeout=2)
        self.assertIn(caught.exception.code, ("UNAVAILABLE", "DEADLINE_EXCEEDED"))


if __name__ == "__main__":
    unittest.main()
