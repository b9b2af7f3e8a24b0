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
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
_REPO_ROOT = os.path.dirname(os.path.dirname(_TESTS_DIR))
sys.path.insert(0, os.path.dirname(_TESTS_DIR))

import numpy as np  # noqa: E402

import paramsync  # noqa: E402

_BIN_DIR = os.environ.get("PARAMSYNC_BIN_DIR", os.path.join(_REPO_ROOT, "bazel-bin"))
_COORDINATOR = os.path.join(_BIN_DIR, "coordinator", "paramsync-coordinator")
_AGENT = os.path.join(_BIN_DIR, "agent", "paramsync-agent")
_WORKER = os.path.join(_TESTS_DIR, "_endpoint_worker.py")

_START_TIMEOUT = 20.0
_REPLY_TIMEOUT = 60.0


def _b64(array):
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


class Worker:
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
        self.label = label
        self._stderr = open(os.path.join(log_dir, label + ".log"), "wb")
        self.process = subprocess.Popen(
            [sys.executable, _WORKER, json.dumps(config)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.registration = self._reply()

    def _read(self):
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _reply(self):
        try:
            line = self._lines.get(timeout=_REPLY_TIMEOUT)
        except queue.Empty:
            raise AssertionError("worker %s did not answer in %.0f s" % (self.label, _REPLY_TIMEOUT))
        if line is None:
            raise AssertionError("worker %s exited (status %s)" % (self.label, self.process.wait()))
        return json.loads(line)

    def call(self, **command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = self._reply()
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

    def stop(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.process.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        for stream in (self.process.stdin, self.process.stdout, self._stderr):
            try:
                stream.close()
            except (BrokenPipeError, OSError):
                pass


class Cluster:
    """A coordinator and `num_agents` agents on 127.0.0.1, logging to `log_dir`."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.processes = []  # (label, Popen)
        self.workers = []
        self.logs = []
        self.agents = []
        self.coordinator = None

    def start(self, num_agents=3):
        """Starts the daemons; stop() stops what was started, even after a failure."""
        for binary in (_COORDINATOR, _AGENT):
            if not os.access(binary, os.X_OK):
                raise RuntimeError(
                    "%s is missing: run `bazel build //coordinator:paramsync-coordinator "
                    "//agent:paramsync-agent //client:libparamsync.so` first" % binary)
        self.coordinator_address = self._start(
            "coordinator", [_COORDINATOR, "--listen=127.0.0.1:0"])
        self.agents = [
            self._start("agent%d" % i, [_AGENT, "--coordinator=" + self.coordinator_address,
                                        "--listen=127.0.0.1:0"])
            for i in range(num_agents)]
        self.coordinator = paramsync.Coordinator(self.coordinator_address)
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            agents = self.coordinator.status()["agents"].get("agents", [])
            if len(agents) == num_agents:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("%d of %d agents registered with the coordinator after %.0f s"
                                   % (len(agents), num_agents, _START_TIMEOUT))
            time.sleep(0.05)

    def _start(self, label, argv):
        address_file = os.path.join(self.log_dir, label + ".address")
        log_path = os.path.join(self.log_dir, label + ".log")
        self.logs.append(log_path)
        with open(log_path, "wb") as log:
            process = subprocess.Popen(argv + ["--address_file=" + address_file],
                                       stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        self.processes.append((label, process))
        deadline = time.monotonic() + _START_TIMEOUT
        while not os.path.exists(address_file):
            if process.poll() is not None:
                raise RuntimeError("%s exited with status %d before serving"
                                   % (label, process.returncode))
            if time.monotonic() > deadline:
                raise RuntimeError("%s wrote no address file in %.0f s" % (label, _START_TIMEOUT))
            time.sleep(0.02)
        with open(address_file) as f:
            return f.read().strip()

    def worker(self, agent_index, model, role, rank, tensors, **kwargs):
        label = "worker-%s-%d" % (model, rank)
        if any(w.label == label for w in self.workers):
            label += "-%d" % len(self.workers)
        worker = Worker(self.log_dir, label, self.agents[agent_index], model, role, rank,
                        tensors, **kwargs)
        self.workers.append(worker)
        self.logs.append(os.path.join(self.log_dir, label + ".log"))
        if not worker.registration["ok"]:
            raise AssertionError("registering %s rank %d failed: %s %s" % (
                model, rank, worker.registration["code"], worker.registration["message"]))
        return worker

    def stop(self):
        for worker in self.workers:
            worker.stop()
        for _, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def dump_logs(self, stream):
        for path in self.logs:
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            lines = text.splitlines()[-200:]
            stream.write("----- %s (last %d lines) -----\n" % (os.path.basename(path), len(lines)))
            stream.write("\n".join(lines) + "\n")


class ClusterTestCase(unittest.TestCase):
    """Starts a fresh cluster per test; prints its logs only if the test failed."""

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        self._log_dir = tempfile.mkdtemp(prefix="paramsync-test-")
        self.cluster = None
        problems_before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            if len(result.failures) + len(result.errors) > problems_before:
                sys.stderr.write("\n===== logs of %s (%s) =====\n" % (self.id(), self._log_dir))
                if self.cluster is not None:
                    self.cluster.dump_logs(sys.stderr)
                else:
                    for name in sorted(os.listdir(self._log_dir)):
                        if name.endswith(".log"):
                            with open(os.path.join(self._log_dir, name), "rb") as f:
                                sys.stderr.write("----- %s -----\n%s\n" % (
                                    name, f.read().decode("utf-8", "replace")))
            shutil.rmtree(self._log_dir, ignore_errors=True)

    def setUp(self):
        self.cluster = Cluster(self._log_dir)
        self.addCleanup(self.cluster.stop)  # Runs even if start() fails.
        self.cluster.start()
        self.coordinator = self.cluster.coordinator

    def assertRaisesCode(self, code, function, *args, **kwargs):
        with self.assertRaises(paramsync.ParamsyncError) as caught:
            function(*args, **kwargs)
        self.assertEqual(caught.exception.code, code, str(caught.exception))
        values = {name: value for value, name in paramsync.STATUS_CODES.items()}
        self.assertEqual(caught.exception.code_value, values[code])
        return caught.exception


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
