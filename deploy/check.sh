#!/usr/bin/env bash
# Checks every file under deploy/ against its format, without building or
# starting anything:
#
#   - Prometheus: promtool check config, check rules, test rules (alerts_test.yml);
#   - the Grafana dashboard and the alert rules: every expression names only
#     metrics and labels listed in metrics.txt, every alert has a severity,
#     annotations, a runbook entry in docs/operations.md and tests
#     (checks.py exprs); the Grafana provisioning files parse;
#   - compose.yaml against the Compose Specification's JSON schema
#     (check-jsonschema's vendored copy), through `docker-compose config`
#     (Debian's docker-compose, which needs no Docker engine for it), and
#     its build contexts, mounts and volumes (checks.py compose);
#   - the Kubernetes manifests against Kubernetes 1.37's schemas, strictly
#     (kubernetes-validate), the ServiceMonitor against
#     schemas/servicemonitor.schema.json, and the ratewire.toml files
#     against the known fields (checks.py configs).
#
# Runs every check, then exits 1 naming each file that failed. promtool
# and docker-compose come from Debian's packages, the Python validators
# from the project's venv; scripts/setup.sh installs them all.
set -uo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT/deploy"

venv="$RATEWIRE_VENV/bin"
missing=()
command -v promtool >/dev/null 2>&1 || missing+=("promtool (Debian's prometheus package)")
command -v docker-compose >/dev/null 2>&1 || missing+=("docker-compose (Debian's docker-compose package)")
for tool in python check-jsonschema kubernetes-validate; do
    [[ -x "$venv/$tool" ]] || missing+=("$tool (in the venv $RATEWIRE_VENV)")
done
if ((${#missing[@]})); then
    printf 'deploy/check.sh: missing %s\n' "${missing[@]}" >&2
    echo "deploy/check.sh: run scripts/setup.sh first" >&2
    exit 1
fi

failed=()

# check FILE DESCRIPTION COMMAND...: runs the command, shows its output,
# and records FILE as failed if it fails.
check() {
    local file="$1" what="$2"
    shift 2
    echo "== deploy/$file: $what"
    if ! "$@"; then
        failed+=("deploy/$file ($what)")
    fi
}

# kubernetes-validate exits 0 when it has no schema for a kind (it warns);
# a manifest it cannot check counts as a failure here.
kubernetes_validate() {
    local out status=0
    out="$("$venv/kubernetes-validate" --strict --kubernetes-version 1.37.0 "$@" 2>&1)" || status=$?
    echo "$out"
    [[ $status -eq 0 ]] && ! grep -q '^WARN' <<<"$out"
}

# Each file parses as YAML (for files no other check reads).
yaml_parses() {
    "$venv/python" -c '
import sys, yaml
for path in sys.argv[1:]:
    list(yaml.safe_load_all(open(path)))
    print(f"{path}: parses")
' "$@"
}

check prometheus/prometheus.yml "promtool check config" promtool check config prometheus/prometheus.yml
check prometheus/alerts.yml "promtool check rules" promtool check rules prometheus/alerts.yml
check prometheus/alerts_test.yml "promtool test rules" promtool test rules prometheus/alerts_test.yml
check "grafana/ratewire.json, prometheus/alerts.yml" "metric names, labels, runbooks, tests" \
    "$venv/python" checks.py exprs
check grafana/provisioning "YAML" yaml_parses grafana/provisioning/datasources/prometheus.yml \
    grafana/provisioning/dashboards/ratewire.yml
check compose.yaml "Compose Specification schema" \
    "$venv/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml
check compose.yaml "docker-compose config" docker-compose --file compose.yaml config --quiet
check compose.yaml "build contexts, mounts, volumes" "$venv/python" checks.py compose
check kubernetes "Kubernetes 1.37 schemas, strict" kubernetes_validate \
    kubernetes/configmap.yaml kubernetes/service.yaml kubernetes/statefulset.yaml
check kubernetes/servicemonitor.yaml "ServiceMonitor schema" \
    "$venv/check-jsonschema" --schemafile schemas/servicemonitor.schema.json kubernetes/servicemonitor.yaml
check "compose/ratewire.toml, kubernetes/configmap.yaml" "ratewire config fields" \
    "$venv/python" checks.py configs

if ((${#failed[@]})); then
    echo
    printf 'deploy/check.sh: FAILED %s\n' "${failed[@]}"
    exit 1
fi
echo
echo "deploy/check.sh: all deploy checks passed"
