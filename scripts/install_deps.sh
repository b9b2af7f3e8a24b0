#!/usr/bin/env bash
# Installs the Debian packages paramsync builds and tests with. Idempotent and
# quiet when everything is already installed.
set -euo pipefail

packages=(
  bazel-bootstrap g++ pkg-config
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  libabsl-dev libgoogle-glog-dev catch2 nlohmann-json3-dev
  python3 python3-numpy
  python3-mypy  # Type-checks the Python package (python/tests/test_typing.py).
  openssl  # The security tests make throwaway certificates.
  # The fuzz targets (fuzz/): Debian 12's clang and its libFuzzer runtime.
  clang libclang-rt-14-dev
  systemd  # systemd-analyze checks the units (deploy/systemd/check.sh).
  graphviz  # Renders docs/architecture.svg (scripts/gen_architecture.sh).
)
# Node and npm run the Kubernetes manifest validator (deploy/k8s/validate/); a
# Node the machine already has (e.g. NodeSource's, which bundles npm) is kept.
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The validator's pinned npm packages, into out/ (a no-op once installed). A
# failure here fails deploy/k8s/check.sh, not the whole run.
"$(dirname "$0")/../deploy/k8s/validate/install.sh" >/dev/null ||
  echo "install_deps: the Kubernetes manifest validator did not install" >&2
