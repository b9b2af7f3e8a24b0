#!/usr/bin/env bash
# Validates the Kubernetes manifests offline (validate/validate.mjs: the
# Kubernetes API schemas of the pinned kubernetes-models package, strict about
# unknown fields), checks that the ConfigMaps hold the example config files
# of deploy/config/kubernetes/ unchanged, and proves the validator rejects
# broken manifests: a misspelled field, a value of the wrong type, a missing
# required field, a kind the API does not have.
#
# Prints one "DEPLOY_RESULT <check> PASS|FAIL" line per check (scripts/test.sh
# counts them); exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")"

if ! validate/install.sh; then
  echo "DEPLOY_RESULT k8s_validator_install FAIL"
  exit 1
fi
modules=../../out/k8s-validate/node_modules
validate() { node validate/validate.mjs --modules="$modules" "$@"; }

# The ConfigMaps that embed an example config file, by manifest.
declare -A config_maps=(
  [coordinator.yaml]=paramsync-coordinator/coordinator.conf=../config/kubernetes/coordinator.conf
  [agent-config.yaml]=paramsync-agent/agent.conf=../config/kubernetes/agent.conf
)

failed=0
for manifest in *.yaml; do
  options=()
  [ -n "${config_maps[$manifest]:-}" ] && options=(--config-map="${config_maps[$manifest]}")
  if validate "${options[@]}" "$manifest"; then
    echo "DEPLOY_RESULT k8s_valid_${manifest%.yaml} PASS"
  else
    echo "DEPLOY_RESULT k8s_valid_${manifest%.yaml} FAIL"
    failed=1
  fi
done

broken=$(mktemp -d)
trap 'rm -rf "$broken"' EXIT
# NAME SED-EXPRESSION SOURCE EXPECTED: SOURCE edited by SED-EXPRESSION must be
# refused with a message containing EXPECTED.
expect_refused() {
  local output
  sed -e "$2" "$3" >"$broken/$1.yaml"
  if cmp -s "$3" "$broken/$1.yaml"; then
    echo "the edit '$2' changed nothing in $3" >&2
  elif output=$(validate "$broken/$1.yaml"); then
    echo "the validator accepted $broken/$1.yaml" >&2
  elif grep -qF -- "$4" <<<"$output"; then
    echo "DEPLOY_RESULT k8s_rejects_$1 PASS"
    return
  else
    printf 'expected "%s" in:\n%s\n' "$4" "$output" >&2
  fi
  echo "DEPLOY_RESULT k8s_rejects_$1 FAIL"
  failed=1
}
expect_refused misspelled_field 's/shareProcessNamespace:/shareProcessNamespce:/' inference.yaml \
  "spec.template.spec.shareProcessNamespce: Object literal may only specify known properties"
expect_refused wrong_type 's/containerPort: 50051/containerPort: "grpc"/' coordinator.yaml \
  "spec.template.spec.containers[0].ports[0].containerPort must be integer"
expect_refused missing_field 's/^        - name: trainer$/        - tty: false/' trainer.yaml \
  "spec.template.spec.containers[0] must have required property name"
expect_refused unknown_kind 's/^kind: Service$/kind: Servise/' coordinator.yaml \
  "no Kubernetes schema for apiVersion v1, kind Servise"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: paramsync-agent, namespace: paramsync}\ndata:\n  agent.conf: |\n    listen = 0.0.0.0:7001\n' \
  >"$broken/stale-config.yaml"
output=$(validate --config-map=paramsync-agent/agent.conf=../config/kubernetes/agent.conf \
  "$broken/stale-config.yaml")
if grep -qF "data.agent.conf differs from ../config/kubernetes/agent.conf" <<<"$output"; then
  echo "DEPLOY_RESULT k8s_rejects_stale_config_map PASS"
else
  printf 'the stale ConfigMap was not caught:\n%s\n' "$output" >&2
  echo "DEPLOY_RESULT k8s_rejects_stale_config_map FAIL"
  failed=1
fi
exit $failed
