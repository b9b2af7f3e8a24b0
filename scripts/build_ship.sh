#!/usr/bin/env bash
# Builds self-contained binaries for a GPU machine (no Bazel, no gRPC there)
# into out/ship/, each at its package path (out/ship/agent/paramsync-agent, ...),
# which is where the local-cluster harness looks when PARAMSYNC_BIN_DIR=out/ship.
# gRPC, protobuf, Abseil and glog are linked statically; the binaries need only
# libc, libstdc++, libz, liblzma and, for NCCL, the machine's libnccl.so.2.
# The Python package's client/libparamsync.so cannot hold Debian's static archives
# (not PIC): it links them dynamically, and the Debian libraries it needs beyond
# libc, libm, libstdc++, libgcc_s, libz and liblzma travel beside it in
# client/lib/, which its DT_RPATH ($ORIGIN/lib) searches first. Point
# PARAMSYNC_LIB at out/ship/client/libparamsync.so there.
# Extra targets may be passed as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
targets=(//agent:paramsync-agent //coordinator:paramsync-coordinator //bench:tensor_holder
         //tests/agent:nccl_transport_test //tests/gpu:gpu_sync_test //tests/gpu:digest_kernel_test
         //tests/gpu:lora_merge_kernel_test
         //bench:gpu_sync_bench
         //client:libparamsync.so "$@")
bazel build --noshow_progress --ui_event_filters=-info,-debug --config=ship "${targets[@]}"
rm -rf out/ship
for t in "${targets[@]}"; do
  path=${t#//}
  package=${path%%:*}
  mkdir -p "out/ship/$package"
  install -m 0755 "bazel-bin/${path/://}" "out/ship/$package/"
done
# The GPU machine has these (glibc, the GCC runtime, zlib, xz); ship every other
# library libparamsync.so loads, as this machine's loader resolves it.
mkdir -p out/ship/client/lib
missing=$(ldd out/ship/client/libparamsync.so | grep "not found" || true)
if [ -n "$missing" ]; then
  echo "libparamsync.so needs libraries this machine lacks: $missing" >&2
  exit 1
fi
ldd out/ship/client/libparamsync.so | awk '$2 == "=>" && $3 ~ /^\// {print $3}' |
  while read -r lib; do
    case "$(basename "$lib")" in
      libc.so.* | libm.so.* | libstdc++.so.* | libgcc_s.so.* | libz.so.* | liblzma.so.* | \
        libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*) ;;
      *) install -m 0644 "$lib" out/ship/client/lib/ ;;
    esac
  done
echo "client/lib: $(ls out/ship/client/lib | wc -l) libraries for libparamsync.so"
du -sh out/ship
# One compressed archive travels to the GPU machine more easily than 80 MB of
# binaries: tar xJf out/ship.tar.xz there.
tar -C out -cJf out/ship.tar.xz ship
du -sh out/ship.tar.xz
