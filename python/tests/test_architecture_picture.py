"""docs/architecture.svg: rendered from docs/architecture.dot, and never stale.

The README's architecture picture is generated from a text source in the repo;
after editing docs/architecture.dot, run `scripts/gen_architecture.sh`.
"""

import os
import re
import shutil
import subprocess
import unittest

import _cluster  # Puts the package's directory on sys.path.

_DOCS = os.path.join(_cluster.REPO_ROOT, "docs")
_SOURCE = os.path.join(_DOCS, "architecture.dot")
_PICTURE = os.path.join(_DOCS, "architecture.svg")
# What a picture shows: its nodes', clusters' and edges' titles and every
# label, in order. Coordinates and sizes depend on the fonts of the machine
# that renders it, and a different layout of the same graph is not stale.
_SHOWN = re.compile(r"<(title|text)[^>]*>([^<]*)</\1>")


def _shown(svg):
    return [(tag, text.strip()) for tag, text in _SHOWN.findall(svg)]


class ArchitecturePictureTest(unittest.TestCase):
    def test_committed_svg_is_what_the_dot_source_renders(self):
        dot = shutil.which("dot")
        self.assertIsNotNone(dot, "Graphviz's dot is missing: run scripts/install_deps.sh")
        rendered = subprocess.run([dot, "-Tsvg", _SOURCE], capture_output=True, text=True,
                                  timeout=60, check=True).stdout
        with open(_PICTURE) as f:
            committed = f.read()
        self.assertTrue(_shown(rendered) and _shown(rendered) == _shown(committed),
                        "docs/architecture.svg is stale: run scripts/gen_architecture.sh")

    def test_it_shows_the_daemons_and_the_services_between_them(self):
        with open(_SOURCE) as f:
            source = f.read()
        for component in ("paramsync-coordinator", "paramsync-agent", "paramsyncctl",
                          "Python Coordinator", "AgentControl", "AgentLocal", "AgentData",
                          "RegisterAgent, Heartbeat", "NCCL", "StateFile", "ErrorChannel"):
            self.assertTrue(component in source, "docs/architecture.dot lacks " + component)

    def test_the_readme_shows_the_picture(self):
        with open(os.path.join(_cluster.REPO_ROOT, "README.md")) as f:
            self.assertIn("docs/architecture.svg", f.read())


if __name__ == "__main__":
    unittest.main()
