#!/usr/bin/env bash
# Runs every test: the Catch2 unit and multi-process integration tests through
# Bazel, then the Python client's tests, then the fuzz targets for a bounded
# time. Ends with "N passed, N failed", counted from real test cases (Catch2
# TEST_CASEs, Python unittest cases, one per fuzz target and one per deployment
# check), followed by
# ", N skipped" when Python cases were skipped (those needing PyTorch or GPUs),
# and exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh || exit 1

bazel_rc=0
bazel test --noshow_progress --ui_event_filters=-info,-debug //... || bazel_rc=$?

passed=0
failed=0
skipped=0
# Catch2 v2 closes each binary's log with "All tests passed (A assertions in N
# test cases)" or "test cases: N | P passed | F failed".
while IFS= read -r log; do
  [ -f "$log" ] || continue  # Skipped here (e.g. a CUDA-only test without CUDA).
  summary=$(grep -E "^All tests passed|^test cases:" "$log" | tail -1)
  if [[ $summary =~ in\ ([0-9]+)\ test\ case ]]; then
    passed=$((passed + BASH_REMATCH[1]))
  elif [[ $summary =~ ([0-9]+)\ passed\ \|\ ([0-9]+)\ failed ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
  elif [[ $summary =~ test\ cases:\ +([0-9]+).*\|\ +([0-9]+)\ failed ]]; then
    failed=$((failed + BASH_REMATCH[2]))
  else
    echo "no Catch2 summary in $log: counting the binary as one failed test" >&2
    failed=$((failed + 1))
  fi
# Manual tests (GPU-only binaries) are not run here: their logs are not counted.
done < <(bazel query --noshow_progress --ui_event_filters=-info,-debug \
           'tests(//...) except attr(tags, manual, //...)' 2>/dev/null |
         sed -e 's|^//||' -e 's|:|/|' -e 's|^|bazel-testlogs/|' -e 's|$|/test.log|')
if [ $bazel_rc -ne 0 ] && [ $failed -eq 0 ]; then
  echo "bazel test failed (exit $bazel_rc) without a failing test case: counting one failure" >&2
  failed=$((failed + 1))
fi

if [ -d python/tests ]; then
  bazel build --noshow_progress --ui_event_filters=-info,-debug \
    //coordinator:paramsync-coordinator //agent:paramsync-agent //client:libparamsync.so
  python_log=$(mktemp)
  /usr/bin/python3 -m unittest discover -s python/tests -v 2>&1 | tee "$python_log"
  ran=$(grep -oE "^Ran [0-9]+ test" "$python_log" | grep -oE "[0-9]+" || echo 0)
  bad=0
  for n in $(grep -E "^FAILED \(" "$python_log" | grep -oE "(failures|errors)=[0-9]+" | cut -d= -f2); do
    bad=$((bad + n))
  done
  # "OK (skipped=N)" / "FAILED (..., skipped=N)": cases that need PyTorch or GPUs.
  py_skipped=0
  for n in $(grep -E "^(OK|FAILED) \(" "$python_log" | grep -oE "skipped=[0-9]+" | cut -d= -f2); do
    py_skipped=$((py_skipped + n))
  done
  if [ "$ran" -eq 0 ]; then bad=$((bad + 1)); fi
  passed=$((passed + ran - bad - py_skipped))
  failed=$((failed + bad))
  skipped=$((skipped + py_skipped))
  rm -f "$python_log"
fi

# Runs a command that prints one "<TAG> <case> PASS|FAIL" line per test case
# and counts them; a command that reports no case counts as one failure.
count_results() {  # TAG COMMAND...
  local tag=$1 log case_passed case_failed
  shift
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  case_passed=$(grep -cE "^$tag [^ ]+ PASS" "$log")
  case_failed=$(grep -cE "^$tag [^ ]+ FAIL" "$log")
  if [ $((case_passed + case_failed)) -eq 0 ]; then
    echo "$1 reported no test case: counting one failure" >&2
    case_failed=1
  fi
  passed=$((passed + case_passed))
  failed=$((failed + case_failed))
  rm -f "$log"
}

# The fuzz targets (fuzz/, built with clang and libFuzzer): each runs over its
# corpus in fuzz/corpus/ and then fuzzes for FUZZ_SECONDS (default 30); each
# target counts as one test case, passed when both exit 0.
[ -d fuzz ] && count_results FUZZ_RESULT fuzz/run.sh -t "${FUZZ_SECONDS:-30}"

# The deployment files: systemd units (systemd-analyze verify and security)
# and Kubernetes manifests (schema validation), one case per check.
count_results DEPLOY_RESULT deploy/systemd/check.sh
count_results DEPLOY_RESULT deploy/k8s/check.sh

if [ $skipped -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ $failed -eq 0 ]
