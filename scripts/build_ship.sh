#!/usr/bin/env bash
# Builds self-contained binaries for a GPU machine (no Bazel, no gRPC there)
# into out/ship/, each at its package path (out/ship/agent/paramsync-agent, ...),
# which is where the local-cluster harness looks when PARAMSYNC_BIN_DIR=out/ship.
# gRPC, protobuf, Abseil and glog are linked statically; the binaries need only
# libc, libstdc++, libz, liblzma and, for NCCL, the machine's libnccl.so.2.
# Extra targets may be passed as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
targets=(//agent:paramsync-agent //coordinator:paramsync-coordinator //bench:tensor_holder
         //tests/agent:nccl_transport_test //tests/gpu:gpu_sync_test //bench:gpu_sync_bench "$@")
bazel build --noshow_progress --ui_event_filters=-info,-debug --config=ship "${targets[@]}"
rm -rf out/ship
for t in "${targets[@]}"; do
  path=${t#//}
  package=${path%%:*}
  mkdir -p "out/ship/$package"
  install -m 0755 "bazel-bin/${path/://}" "out/ship/$package/"
done
du -sh out/ship
# One compressed archive travels to the GPU machine more easily than 80 MB of
# binaries: tar xJf out/ship.tar.xz there.
tar -C out -cJf out/ship.tar.xz ship
du -sh out/ship.tar.xz
