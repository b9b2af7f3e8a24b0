#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with Debian's clang, outside Bazel (its
# toolchain here is gcc): every fuzz/*_fuzzer.cc becomes out/fuzz/bin/<name>,
# instrumented with AddressSanitizer and UndefinedBehaviorSanitizer.
#
# The project's sources (common/, coordinator/ and agent/ minus the daemons'
# main.cc and the GPU parts) and the protoc-generated API go into one static
# archive each fuzzer links against, so a source file added there needs no edit
# here. Objects are rebuilt only when their source or a header is newer.
#
# Usage: fuzz/build.sh [-j N]     (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
if [ "${1:-}" = "-j" ] && [ -n "${2:-}" ]; then jobs=$2; fi

out=out/fuzz
gen=$out/gen
obj=$out/obj
bin=$out/bin
mkdir -p "$gen" "$obj" "$bin"

CXX=${CXX:-clang++}
modules="grpc++ protobuf absl_flat_hash_map absl_flat_hash_set absl_status absl_statusor
  absl_strings absl_str_format absl_synchronization absl_time libglog gflags nlohmann_json"
# shellcheck disable=SC2086
pkg_cflags=$(pkg-config --cflags $modules)
# shellcheck disable=SC2086
pkg_libs=$(pkg-config --libs $modules)
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cxxflags="-std=c++17 -O1 -gline-tables-only -fno-omit-frame-pointer $sanitize
  -fsanitize=fuzzer-no-link -I. -I$gen $pkg_cflags -Wno-deprecated-declarations"

# 1. The gRPC API and the standard health protocol (common/health_listener.cc),
# as proto/proto_library.bzl generates them.
protos=(proto/paramsync/v1/*.proto proto/grpc/health/v1/health.proto)
stamp=$gen/.stamp
generated() {  # Whether every .proto has its generated .pb.cc.
  local proto
  for proto in "${protos[@]}"; do
    proto=${proto#proto/}
    [ -f "$gen/${proto%.proto}.pb.cc" ] || return 1
  done
}
if [ ! -f "$stamp" ] || ! generated || [ -n "$(find "${protos[@]}" -newer "$stamp")" ]; then
  rm -rf "$gen/paramsync" "$gen/grpc"  # No stale output of a removed .proto.
  protoc --proto_path=proto --cpp_out="$gen" --grpc_out="$gen" \
    --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" "${protos[@]}"
  touch "$stamp"
fi

# 2. The project's library sources: every .cc of common/, coordinator/ and
# agent/ but the daemons' main.cc (an archive member defining main would be
# linked instead of libFuzzer's) and the CUDA/NCCL parts.
mapfile -t project_sources < <(find common coordinator agent -name '*.cc' ! -name main.cc \
  ! -path '*/gpu/*' ! -path '*/nccl/*' | sort)
sources=("$gen"/paramsync/v1/*.pb.cc "$gen"/grpc/health/v1/*.pb.cc "${project_sources[@]}")

# Newest header the sources may include: a changed header rebuilds everything.
newest_header=$(find common coordinator agent "$gen" -name '*.h' -printf '%T@\n' | sort -n | tail -1)

objects=()
stale=()
for src in "${sources[@]}"; do
  o=$obj/$(echo "${src#"$gen"/}" | tr / _).o
  objects+=("$o")
  if [ ! -f "$o" ] || [ "$src" -nt "$o" ] ||
    [ "$(stat -c %Y "$o")" -lt "${newest_header%.*}" ]; then
    stale+=("$src:$o")
  fi
done
# Objects are dated when their compile started, so that a source or header
# edited during the build counts as newer.
build_start=$(date +%s)
export CXX cxxflags build_start
if [ ${#stale[@]} -gt 0 ]; then
  echo "fuzz/build.sh: compiling ${#stale[@]} sources with $jobs jobs" >&2
  # shellcheck disable=SC2016
  printf '%s\n' "${stale[@]}" | xargs -P "$jobs" -I{} bash -c '
    src=${1%%:*}; o=${1#*:}
    $CXX $cxxflags -c "$src" -o "$o.tmp" && mv "$o.tmp" "$o" && touch -d "@$build_start" "$o"' _ {}
fi
lib=$out/libparamsync_fuzz.a
if [ ! -f "$lib" ] || [ ${#stale[@]} -gt 0 ] ||
  [ "$(printf '%s\n' "${objects[@]}")" != "$(cat "$out/objects.txt" 2>/dev/null)" ]; then
  rm -f "$lib"
  ar rcs "$lib" "${objects[@]}"
  printf '%s\n' "${objects[@]}" >"$out/objects.txt"
fi

# 3. One binary per target.
for target in fuzz/*_fuzzer.cc; do
  name=$(basename "$target" .cc)
  if [ -f "$bin/$name" ] && [ -z "$(find "$lib" "$target" fuzz/*.h -newer "$bin/$name")" ]; then
    continue
  fi
  # shellcheck disable=SC2086
  $CXX $cxxflags -fsanitize=fuzzer "$target" "$lib" $pkg_libs -lrt -lpthread \
    -o "$bin/$name"
done
echo "fuzz/build.sh: built $(ls fuzz/*_fuzzer.cc | wc -l) fuzzers in $bin" >&2
