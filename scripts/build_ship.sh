#!/usr/bin/env bash
# Builds self-contained binaries for the GPU machine (no Bazel, no gRPC there)
# into out/ship/: gRPC, protobuf, Abseil and glog linked statically; they need
# only libc, libstdc++, libz, liblzma and, for NCCL code, the machine's
# libnccl.so.2. Pass extra targets as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
targets=(//agent:paramsync-agent //coordinator:paramsync-coordinator
         //tests/agent:nccl_transport_test "$@")
bazel build --noshow_progress --ui_event_filters=-info,-debug --config=ship "${targets[@]}"
mkdir -p out/ship
for t in "${targets[@]}"; do
  path=${t#//}
  install -m 0755 "bazel-bin/${path/://}" out/ship/
done
ls -l out/ship
