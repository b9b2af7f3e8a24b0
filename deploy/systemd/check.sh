#!/usr/bin/env bash
# Checks the systemd units with systemd-analyze, offline, against a scratch
# root: `verify` (syntax, every directive known and its value valid, ExecStart
# binaries present, referenced units found) and `security --offline` (the
# exposure score must stay at or under a ceiling, so hardening cannot quietly
# go away). A check that prints any diagnostic fails: verify exits 0 on an
# unknown directive or a bad value, and only says so.
#
# The scratch root holds the host's own unit files, the units under test in
# /etc/systemd/system, and stand-in executables at the paths ExecStart names
# (verify checks they exist and are executable, not what they do).
#
# Prints one "DEPLOY_RESULT <check> PASS|FAIL" line per check (scripts/test.sh
# counts them); exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")"

# Exposure ceilings, in tenths of systemd-analyze's 0-10 score.
readonly COORDINATOR_CEILING=15  # 1.1 now.
readonly AGENT_CEILING=35        # 2.9 now: root, devices, the host's /tmp and IPC.

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/usr/local/bin"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
for binary in paramsync-coordinator paramsync-agent; do
  printf '#!/bin/sh\n' >"$root/usr/local/bin/$binary"
  chmod 755 "$root/usr/local/bin/$binary"
done

failed=0
result() {  # NAME STATUS OUTPUT
  if [ "$2" -eq 0 ] && [ -z "$3" ]; then
    echo "DEPLOY_RESULT $1 PASS"
  else
    printf '%s\n' "$3" >&2
    echo "DEPLOY_RESULT $1 FAIL"
    failed=1
  fi
}

install_unit() {  # FILE [NAME]
  cp "$1" "$root/etc/systemd/system/${2:-$(basename "$1")}"
}

verify() {  # CHECK UNIT
  local output status
  output=$(systemd-analyze --root="$root" verify "$2" 2>&1)
  status=$?
  result "$1" "$status" "$output"
}

# `security` reads a template's instance only from a file of its own name.
security() {  # CHECK UNIT CEILING
  local output status
  output=$(systemd-analyze --root="$root" security --offline=yes --threshold="$3" "$2" 2>&1)
  status=$?
  echo "$output" | grep "Overall exposure" >&2
  result "$1" "$status" "$([ $status -eq 0 ] || echo "$output")"
}

install_unit paramsync-coordinator.service
install_unit paramsync-agent@.service
verify systemd_verify_coordinator paramsync-coordinator.service
verify systemd_verify_agent paramsync-agent@0.service
security systemd_security_coordinator paramsync-coordinator.service "$COORDINATOR_CEILING"
install_unit paramsync-agent@.service paramsync-agent@0.service
security systemd_security_agent paramsync-agent@0.service "$AGENT_CEILING"

# The check itself: a misspelled directive and a bad value must be caught.
sed -e 's/^ProtectSystem=strict$/ProtectSystem=strcit/' -e 's/^NoNewPrivileges=/NoNewPrivilege=/' \
  paramsync-coordinator.service >"$root/etc/systemd/system/broken.service"
output=$(systemd-analyze --root="$root" verify broken.service 2>&1)
if grep -q "Unknown key 'NoNewPrivilege'" <<<"$output" &&
   grep -q "Failed to parse protect system value, ignoring: strcit" <<<"$output"; then
  echo "DEPLOY_RESULT systemd_verify_rejects_broken_unit PASS"
else
  printf 'verify did not flag the broken unit:\n%s\n' "$output" >&2
  echo "DEPLOY_RESULT systemd_verify_rejects_broken_unit FAIL"
  failed=1
fi
exit $failed
