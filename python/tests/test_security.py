"""The Python client against daemons serving mutual TLS with bearer tokens.

Certificates are made at test time by tests/security/gen_test_certs.sh (needs
openssl). The orchestrating process configures itself with
paramsync.configure_security; framework ranks (worker processes) get the same
settings from the PARAMSYNC_* environment variables.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

import _cluster  # Puts the package's directory on sys.path.
import paramsync
import test_client

_GEN_CERTS = os.path.join(_cluster.REPO_ROOT, "tests", "security", "gen_test_certs.sh")
_SHARED_TOKEN = "python-shared-token-0123456789"
_DAEMON_TOKEN = "python-daemon-token-9876543210"


@unittest.skipIf(shutil.which("openssl") is None, "needs openssl to make test certificates")
class MutualTlsTest(test_client.ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.material = tempfile.mkdtemp(prefix="paramsync-tls-")
        subprocess.run(["bash", _GEN_CERTS, cls.material], check=True)
        for name, token in (("token", _SHARED_TOKEN), ("daemon_token", _DAEMON_TOKEN)):
            with open(cls.path(name), "w") as f:
                f.write(token + "\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.material, ignore_errors=True)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.material, name)

    def client_settings(self, token=True):
        settings = {"tls_ca": self.path("ca.pem"), "tls_cert": self.path("client.pem"),
                    "tls_key": self.path("client.key")}
        if token:
            settings["token_file"] = self.path("token")
        return settings

    def setUp(self):
        # Plaintext without a token again after the test, for the other tests.
        self.addCleanup(paramsync.configure_security)
        paramsync.configure_security(**self.client_settings())
        environment = {"PARAMSYNC_TLS_CA": self.path("ca.pem"),
                       "PARAMSYNC_TLS_CERT": self.path("client.pem"),
                       "PARAMSYNC_TLS_KEY": self.path("client.key"),
                       "PARAMSYNC_TOKEN_FILE": self.path("token")}
        for name, value in environment.items():
            self.addCleanup(os.environ.pop, name, None)
            os.environ[name] = value
        self.cluster = self.cluster_class(self._log_dir)
        self.addCleanup(self.cluster.stop)
        self.cluster.start(num_agents=2, daemon_flags=[
            "--tls_cert=" + self.path("daemon.pem"), "--tls_key=" + self.path("daemon.key"),
            "--tls_ca=" + self.path("ca.pem"), "--token_file=" + self.path("token"),
            "--daemon_token_file=" + self.path("daemon_token")])
        self.coordinator = self.cluster.coordinator

    def test_sync(self):
        values = np.arange(32, dtype=np.float32).reshape(4, 8)
        self.cluster.worker(0, "trainer", "trainer", 0, {"w": values})
        inference = self.cluster.worker(1, "vllm", "inference", 0, {"w": ((4, 8), "float32")})
        self.coordinator.create_group("g", "trainer", "vllm")
        report = self.coordinator.sync("g")
        self.assertEqual(report.version, 1)
        np.testing.assert_array_equal(
            np.frombuffer(inference.read("w"), np.float32).reshape(4, 8), values)
        self.assertEqual(inference.version(), 1)

    def test_refused_without_token_or_certificate(self):
        paramsync.configure_security(**self.client_settings(token=False))
        error = self.assertRaisesCode("UNAUTHENTICATED", self.coordinator.status, timeout=10)
        self.assertIn("Bearer", error.message)
        self.assertNotIn(_SHARED_TOKEN, error.message)
        paramsync.configure_security(tls_ca=self.path("ca.pem"), token_file=self.path("token"))
        self.assertRaisesCode("UNAVAILABLE", self.coordinator.status, timeout=10)
        paramsync.configure_security(token_file=self.path("token"))  # Plaintext.
        self.assertRaisesCode("UNAVAILABLE", self.coordinator.status, timeout=10)

    def test_unreadable_file_is_named(self):
        missing = self.path("no-such-token")
        error = self.assertRaisesCode("FAILED_PRECONDITION", paramsync.configure_security,
                                      token_file=missing)
        self.assertIn(missing, error.message)
        # The earlier settings stay.
        self.assertEqual(len(self.coordinator.status()["agents"]["agents"]), 2)


if __name__ == "__main__":
    unittest.main()
