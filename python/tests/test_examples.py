"""The example scripts (python/examples/), run end to end as a user would.

A coordinator and two CPU agents run on loopback; the examples run as separate
processes, their tensors in shared memory: the orchestrator creates the group,
an inference rank waits for versions, a trainer trains 6 steps syncing every 2,
the orchestrator syncs once more with progress, and once the trainer has gone
its failed sync shows on the error channel.
"""

import json
import os
import subprocess
import sys
import threading
import unittest

import _cluster  # Puts the package's directory on sys.path.

_EXAMPLES = os.path.join(_cluster.REPO_ROOT, "python", "examples")
_TIMEOUT = 60.0


def _example(name):
    return [sys.executable, os.path.join(_EXAMPLES, name)]


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Background:
    """An example running in its own process, its stdout read line by line."""

    def __init__(self, argv, log_dir, label):
        self.log_path = os.path.join(log_dir, label + ".log")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._log, text=True)
        self.lines = []

    def next_line(self):
        """The next stdout line as JSON (fails the test at end of output or after the timeout)."""
        result = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()))
        reader.start()
        reader.join(_TIMEOUT)
        if not result or not result[0]:
            raise AssertionError("%s printed nothing more (exit status %s)"
                                 % (self.log_path, self.process.poll()))
        self.lines.append(json.loads(result[0]))
        return self.lines[-1]

    def finish(self):
        """Closes stdin, waits for the exit; returns (status, remaining JSON lines)."""
        out, _ = self.process.communicate(timeout=_TIMEOUT)
        self._log.close()
        return self.process.returncode, _json_lines(out)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        self._log.close()


class ExamplesTest(_cluster.ClusterTestCase):
    devices = ["cpu", "cpu"]

    def run_example(self, name, *args):
        result = subprocess.run(_example(name) + list(args), capture_output=True, text=True,
                                timeout=_TIMEOUT)
        return result.returncode, _json_lines(result.stdout), result.stderr

    def background(self, name, label, *args):
        process = Background(_example(name) + list(args), self._log_dir, label)
        self.cluster.track(process, process.log_path)
        return process

    def test_train_sync_every_two_steps_and_orchestrate(self):
        coordinator = "--coordinator=" + self.cluster.coordinator_address
        group = ["--group=policy", "--src=policy_trainer", "--dst=policy_vllm"]

        status, lines, err = self.run_example("orchestrate_example.py", coordinator, *group,
                                              "--syncs=0")
        self.assertEqual(status, 0, err)
        self.assertEqual([line["group"]["name"] for line in lines], ["policy"])
        self.assertEqual(lines[0]["group"]["version"], 0)

        inference = self.background("inference_example.py", "inference",
                                    "--agent=" + self.cluster.agents[1], "--until-version=4")
        self.assertEqual(inference.next_line(), {"registered": 0})
        trainer = self.background("trainer_example.py", "trainer",
                                  "--agent=" + self.cluster.agents[0], coordinator,
                                  "--group=policy", "--steps=6", "--sync-every=2", "--hold")
        syncs = [trainer.next_line() for _ in range(3)]
        self.assertEqual([(s["step"], s["version"]) for s in syncs], [(2, 1), (4, 2), (6, 3)])
        self.assertEqual(trainer.next_line(), {"holding": 6})

        # One more sync, driven from outside, with its progress.
        status, lines, err = self.run_example("orchestrate_example.py", coordinator, *group,
                                              "--syncs=1", "--watch-seconds=0.5")
        self.assertEqual(status, 0, err)
        phases = [line["progress"] for line in lines if "progress" in line]
        self.assertEqual(phases[0], "planning")
        self.assertEqual(phases[-1], "done")
        self.assertIn("transferring", phases)
        self.assertEqual([line["version"] for line in lines if "version" in line], [4])

        status, lines = inference.finish()
        self.assertEqual(status, 0, lines)
        self.assertEqual(lines[-1], {"version": 4, "step": 6, "verified": True})
        self.assertEqual(trainer.finish()[0], 0)

        # The trainer is gone: the next sync fails, and the error channel says so.
        status, lines, err = self.run_example("orchestrate_example.py", coordinator, *group,
                                              "--syncs=1", "--watch-seconds=1")
        self.assertEqual(status, 1, err)
        errors = [line for line in lines if "error" in line]
        self.assertEqual(len(errors), 1, lines)
        events = [line["error_event"] for line in lines if "error_event" in line]
        self.assertTrue(any(e["group"] == "policy" and e["code"] == errors[0]["error"]
                            for e in events), lines)


if __name__ == "__main__":
    unittest.main()
