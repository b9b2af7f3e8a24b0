#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/build.sh) and runs each: first over its corpus
# in fuzz/corpus/<target>/ (a regression check: every input there, including
# past crashers, must pass), then fuzzing for a bounded time. Inputs the fuzzer
# finds go to out/fuzz/work/<target>/, never into the repo; a crash, leak,
# timeout or out-of-memory input is written to out/fuzz/artifacts/.
#
# Usage: fuzz/run.sh [-t SECONDS] [--no-build] [TARGET...]
#   -t SECONDS   fuzzing time per target (default 30; 0: corpus only)
#   TARGET       e.g. topology_fuzzer (default: every fuzz/*_fuzzer.cc)
#
# Prints one "FUZZ_RESULT <target> PASS|FAIL" line per target (scripts/test.sh
# counts them) and exits non-zero when any failed. To fuzz longer or reproduce
# a crash, run the binary directly, e.g.
#   out/fuzz/bin/topology_fuzzer -max_total_time=3600 out/fuzz/work/topology_fuzzer \
#     fuzz/corpus/topology_fuzzer
#   out/fuzz/bin/topology_fuzzer out/fuzz/artifacts/topology_fuzzer-crash-...
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=30
build=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) seconds=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*_fuzzer.cc; do targets+=("$(basename "$f" .cc)"); done
fi

if [ $build -eq 1 ]; then
  if ! fuzz/build.sh; then
    for t in "${targets[@]}"; do echo "FUZZ_RESULT $t FAIL (build failed)"; done
    exit 1
  fi
fi

# A handler that runs 10 s on one input is a hang; 2 GiB is far above any
# legitimate input's needs.
common=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

mkdir -p out/fuzz/artifacts out/fuzz/logs
failed=0
for t in "${targets[@]}"; do
  bin=out/fuzz/bin/$t
  corpus=fuzz/corpus/$t
  work=out/fuzz/work/$t
  log=out/fuzz/logs/$t.log
  mkdir -p "$work"
  : >"$log"
  result=PASS
  detail=""
  start=$(date +%s)
  if [ ! -x "$bin" ]; then
    result=FAIL
    detail="no binary $bin"
  elif [ ! -d "$corpus" ]; then
    result=FAIL
    detail="no corpus $corpus"
  elif ! "$bin" "${common[@]}" -runs=0 -artifact_prefix="out/fuzz/artifacts/$t-" "$corpus" \
    >>"$log" 2>&1; then
    result=FAIL
    detail="an input of $corpus fails"
  elif [ "$seconds" -gt 0 ] &&
    ! "$bin" "${common[@]}" -max_total_time="$seconds" \
      -artifact_prefix="out/fuzz/artifacts/$t-" "$work" "$corpus" >>"$log" 2>&1; then
    result=FAIL
    detail="fuzzing found a failing input"
  fi
  runs=$(grep -oE "^stat::number_of_executed_units: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+$")
  inputs=$(find "$corpus" -type f 2>/dev/null | wc -l)
  if [ $result = PASS ]; then
    detail="$inputs corpus inputs, ${runs:-0} runs in $(($(date +%s) - start)) s"
  else
    failed=$((failed + 1))
    grep -E "ERROR: |runtime error|SUMMARY|Test unit written|_fuzzer: " "$log" | head -20 >&2
    detail="$detail; log: $log"
  fi
  echo "FUZZ_RESULT $t $result ($detail)"
done
# A target that crashed leaves its shared-memory region (agent_service_fuzzer).
for region in /dev/shm/paramsync-fuzz-*; do
  [ -e "$region" ] && ! kill -0 "${region##*-}" 2>/dev/null && rm -f "$region"
done
[ $failed -eq 0 ]
