#!/usr/bin/env bash
# Installs the manifest validator's npm packages, pinned by package-lock.json,
# into out/k8s-validate/node_modules (outside the source tree, which Bazel
# and git ignore). Does nothing when that lock file is already installed.
# Needs node and npm (scripts/install_deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")"
dest=../../../out/k8s-validate
if cmp -s package-lock.json "$dest/installed.lock" && [ -d "$dest/node_modules" ]; then
  exit 0
fi
rm -rf "$dest"
mkdir -p "$dest"
cp package.json package-lock.json "$dest/"
# kubernetes-models asks for Node 22 in its metadata, but its code runs on the
# Node 20 of the build machines: npm's engine warning is silenced.
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
cp package-lock.json "$dest/installed.lock"
