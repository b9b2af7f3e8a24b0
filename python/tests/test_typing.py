"""The package's public API is typed and documented.

mypy (Debian's python3-mypy; scripts/install_deps.sh installs it) checks the
package, the examples and the API reference generator with python/mypy.ini:
every function annotated. And
every public class, function and method has a docstring.
"""

import inspect
import os
import subprocess
import sys
import unittest

import _cluster  # Puts the package's directory on sys.path.
import paramsync

_PYTHON_DIR = os.path.join(_cluster.REPO_ROOT, "python")


def _has_mypy():
    return subprocess.run([sys.executable, "-m", "mypy", "--version"],
                          capture_output=True).returncode == 0


class TypingTest(unittest.TestCase):
    @unittest.skipUnless(_has_mypy(), "mypy is not installed (apt-get install python3-mypy)")
    def test_package_and_examples_pass_mypy(self):
        result = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "paramsync", "examples",
             os.path.join("..", "scripts", "gen_api_reference.py")],
            cwd=_PYTHON_DIR, capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_package_declares_its_types(self):
        self.assertTrue(os.path.exists(os.path.join(_PYTHON_DIR, "paramsync", "py.typed")))

    def test_public_api_is_documented(self):
        undocumented = []
        for name in paramsync.__all__:
            value = getattr(paramsync, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if not inspect.getdoc(value):
                undocumented.append(name)
            if inspect.isclass(value):
                for member, attribute in vars(value).items():
                    if member.startswith("_"):
                        continue
                    function = getattr(attribute, "fget", None) or getattr(
                        attribute, "__func__", attribute)
                    if inspect.isfunction(function) and not inspect.getdoc(function):
                        undocumented.append("%s.%s" % (name, member))
        self.assertEqual(undocumented, [])


if __name__ == "__main__":
    unittest.main()
