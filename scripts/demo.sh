#!/usr/bin/env bash
# The main job: starts a coordinator and 4 agents on this machine, registers a
# TP2 trainer and TP2/TP4 inference ranks holding a ~100 MB transformer-shaped
# model, runs two syncs per group, checks every byte and prints a summary.
# Extra arguments go to the demo binary (e.g. --preset=small).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
bazel build --noshow_progress --ui_event_filters=-info,-debug //bench:demo
cd bazel-bin/bench/demo.runfiles/paramsync
exec ../../demo "$@"
