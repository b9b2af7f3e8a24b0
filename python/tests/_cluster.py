"""Daemons for the Python client's tests: a coordinator and agents on loopback.

The binaries come from $PARAMSYNC_BIN_DIR (e.g. out/ship on the GPU machine),
else the repository's bazel-bin. Daemon logs stay in a temporary directory and
are printed only when a test fails. Also the plumbing of framework ranks run as
worker processes (WorkerProcess). Needs no third-party package.
"""

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
REPO_ROOT = os.path.dirname(os.path.dirname(_TESTS_DIR))
sys.path.insert(0, os.path.dirname(_TESTS_DIR))

import paramsync  # noqa: E402

BIN_DIR = os.environ.get("PARAMSYNC_BIN_DIR", os.path.join(REPO_ROOT, "bazel-bin"))
COORDINATOR = os.path.join(BIN_DIR, "coordinator", "paramsync-coordinator")
AGENT = os.path.join(BIN_DIR, "agent", "paramsync-agent")

START_TIMEOUT = 20.0


class Cluster:
    """A coordinator and agents on 127.0.0.1, logging to `log_dir`."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.processes = []  # (label, Popen)
        self.workers = []
        self.logs = []
        self.agents = []
        self.coordinator = None

    def start(self, num_agents=3, devices=None, daemon_flags=()):
        """Starts the daemons; stop() stops what was started, even after a failure.

        `devices`: the --device of each agent (e.g. ["cuda:0", "cuda:1"]); by
        default `num_agents` agents serve host memory. `daemon_flags`: more
        flags for every daemon (e.g. TLS and tokens; this process's client must
        be configured to match, see paramsync.configure_security).
        """
        for binary in (COORDINATOR, AGENT):
            if not os.access(binary, os.X_OK):
                raise RuntimeError(
                    "%s is missing: run `bazel build //coordinator:paramsync-coordinator "
                    "//agent:paramsync-agent //client:libparamsync.so` first, or set "
                    "PARAMSYNC_BIN_DIR" % binary)
        if devices is None:
            devices = ["cpu"] * num_agents
        num_agents = len(devices)
        self.coordinator_address = self._start(
            "coordinator", [COORDINATOR, "--listen=127.0.0.1:0"] + list(daemon_flags))
        self.agents = [
            self._start("agent%d" % i, [AGENT, "--coordinator=" + self.coordinator_address,
                                        "--listen=127.0.0.1:0", "--device=" + device]
                        + list(daemon_flags))
            for i, device in enumerate(devices)]
        self.coordinator = paramsync.Coordinator(self.coordinator_address)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            agents = self.coordinator.status()["agents"].get("agents", [])
            if len(agents) == num_agents:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("%d of %d agents registered with the coordinator after %.0f s"
                                   % (len(agents), num_agents, START_TIMEOUT))
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
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(address_file):
            if process.poll() is not None:
                raise RuntimeError("%s exited with status %d before serving"
                                   % (label, process.returncode))
            if time.monotonic() > deadline:
                raise RuntimeError("%s wrote no address file in %.0f s" % (label, START_TIMEOUT))
            time.sleep(0.02)
        with open(address_file) as f:
            return f.read().strip()

    def track(self, worker, log_path):
        """Stops `worker` (anything with stop()) with the cluster; shows its log on failure."""
        self.workers.append(worker)
        self.logs.append(log_path)

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


class WorkerProcess:
    """A worker script in its own process, speaking JSON lines (see _worker_loop.py).

    Runs `script` with `config` as JSON in argv[1]; its stderr goes to
    `log_dir`/`label`.log (log_path). answer() waits up to `reply_timeout`
    seconds for the next line; stop() asks it to exit and kills it after
    `stop_timeout` seconds.
    """

    def __init__(self, script, log_dir, label, config, reply_timeout, stop_timeout):
        self.label = label
        self.reply_timeout = reply_timeout
        self.stop_timeout = stop_timeout
        self.log_path = os.path.join(log_dir, label + ".log")
        self._stderr = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, script, json.dumps(config)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, command):
        """Writes one command (a dict) as a JSON line."""
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def answer(self):
        """The next JSON line as a dict, whether "ok" or not."""
        try:
            line = self._lines.get(timeout=self.reply_timeout)
        except queue.Empty:
            raise AssertionError("worker %s did not answer in %.0f s"
                                 % (self.label, self.reply_timeout))
        if line is None:
            raise AssertionError("worker %s exited (status %s)"
                                 % (self.label, self.process.wait()))
        return json.loads(line)

    def stop(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.process.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        for stream in (self.process.stdin, self.process.stdout, self._stderr):
            try:
                stream.close()
            except (BrokenPipeError, OSError):
                pass


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

    cluster_class = Cluster
    devices = None  # Agents' --device values; None: three host-memory agents.

    def setUp(self):
        self.cluster = self.cluster_class(self._log_dir)
        self.addCleanup(self.cluster.stop)  # Runs even if start() fails.
        self.cluster.start(devices=self.devices)
        self.coordinator = self.cluster.coordinator

    def assertRaisesCode(self, code, function, *args, **kwargs):
        with self.assertRaises(paramsync.ParamsyncError) as caught:
            function(*args, **kwargs)
        self.assertEqual(caught.exception.code, code, str(caught.exception))
        values = {name: value for value, name in paramsync.STATUS_CODES.items()}
        self.assertEqual(caught.exception.code_value, values[code])
        return caught.exception
