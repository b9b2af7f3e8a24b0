#!/usr/bin/env bash
# Renders docs/architecture.dot (the architecture picture's text source) into
# docs/architecture.svg with Graphviz. Run it after editing the .dot file;
# python/tests/test_architecture_picture.py fails while the SVG is stale.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
command -v dot >/dev/null || {
  echo "gen_architecture: Graphviz's dot is missing (scripts/install_deps.sh installs it)" >&2
  exit 1
}
dot -Tsvg "$repo/docs/architecture.dot" -o "$repo/docs/architecture.svg"
