#!/usr/bin/env bash
# scripts/deploy-check ansible: the bare-machine target (deploy/ansible),
# converged for real into a host that runs systemd.
#
#   1. ansible-lint --profile production on deploy/ansible: 0 violations.
#   2. A host: a Podman container booting systemd from a Debian rootfs with the
#      packages the roles install (ansible/host-image.sh; cached), no network.
#      Reached through the containers.podman connection, with pipelining
#      (ansible/connection_plugins/berth_podman.py; ansible/single.yml, given
#      after deploy/ansible/inventories/single/hosts.yml).
#   3. Secrets: a vault made from the inventory's vault.yml.example with random
#      values, encrypted with ansible-vault (a random vault password).
#   4. Bad input on the fresh host: a vault without one password; the run must
#      stop in preflight naming it, with nothing changed on the host.
#   5. site.yml converges (timed); 6. a second run reports changed=0 (timed).
#   7. ansible/verify.sh inside the host: every unit active, systemd-analyze
#      security <= 2.0 for each berth unit, each service's /healthcheck and a
#      real request, Redis ACL/AOF, PostgreSQL roles and listen addresses,
#      Prometheus targets and rules.
#   8. kv loses no acknowledged write while Redis is SIGKILLed
#      (systemctl kill -s KILL redis-server) and restarted (ansible/kv-redis-kill.py).
#   9. One service's setting changed (app.yml, berth_clock_env): only berth-clock
#      restarts (InvocationID of every unit before and after).
#  10. rolling-restart.yml: every berth unit restarts and answers /healthcheck;
#      the stores do not restart.
#  11. Bad input on the converged host: an unknown service name; the run stops
#      naming it, and no unit restarts and no file changes.
#  12. With BERTH_ANSIBLE_MULTI_TIER=1: the multi-tier inventory on four hosts
#      on one internal Podman network (ansible/multi-tier.sh): converge, changed=0,
#      HAProxy, the stores' access rules, Prometheus, and rolling-restart.yml
#      under a steady stream of requests through HAProxy with none failing.
#
# Environment:
#   BERTH_BINARY=PATH          a prebuilt static binary (else static_binary builds it)
#   BERTH_CACHE                the cache directory (/var/cache/berth): venv, rootfs
#   BERTH_ANSIBLE_KEEP=1       keep the host container at the end (debugging)
#   BERTH_ANSIBLE_MULTI_TIER=1 also step 11 (about as long again as steps 5-9)
#   BERTH_ANSIBLE_RECORD=1     write the timings into docs/benchmarks.md
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/image.sh
. scripts/lib/image.sh
HERE=$ROOT/scripts/deploy-check.d/ansible
# shellcheck source=scripts/deploy-check.d/ansible/host-image.sh
. "$HERE/host-image.sh"
# shellcheck source=scripts/deploy-check.d/ansible/multi-tier.sh
. "$HERE/multi-tier.sh"

ANSIBLE_PINS="ansible-core==2.19.14 ansible==12.3.0 ansible-lint==26.10.1"
HOST=berth-ansible-single
INVENTORY=deploy/ansible/inventories/single
step_no=0
step() {
    step_no=$((step_no + 1))
    printf '\n==> [ansible] %d. %s\n' "$step_no" "$*"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-ansible.XXXXXX")
# shellcheck disable=SC2317 # invoked by trap
cleanup() {
    local rc=$?
    if [[ ${BERTH_ANSIBLE_KEEP:-0} == 1 ]]; then
        say "keeping $HOST (BERTH_ANSIBLE_KEEP=1): podman rm -f $HOST"
    else
        podman rm -f -t 0 "$HOST" >/dev/null 2>&1 || true
        multi_tier_cleanup
    fi
    rm -rf "$WORK"
    ((rc == 0)) || printf '==> [ansible] FAILED (exit %s)\n' "$rc" >&2
}
trap cleanup EXIT

# --- tools ---------------------------------------------------------------------------
VENV=$(ensure_venv ansible "$ANSIBLE_PINS")
export PATH=$VENV/bin:$PATH
podman_env
ensure_cmds mmdebstrap:mmdebstrap
BIN=$(static_binary)
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_DISPLAY_SKIPPED_HOSTS=0
export ANSIBLE_LOCAL_TEMP=$WORK/ansible-tmp ANSIBLE_HOME=$WORK/ansible-home
export ANSIBLE_CONNECTION_PLUGINS=$HERE/connection_plugins

# playbook LOG PLAYBOOK ARGS...: run a playbook against the host, output into
# $WORK/LOG.log; returns ansible-playbook's exit code.
playbook() {
    local log=$WORK/$1.log book=$2
    shift 2
    ansible-playbook -i "$INVENTORY/hosts.yml" -i "$HERE/single.yml" \
        --vault-password-file "$WORK/vault-pass" -e "@$WORK/vault.yml" \
        -e "berth_binary_src=$BIN" "deploy/ansible/$book" "$@" >"$log" 2>&1
}
# recap LOG FIELD: the host's FIELD (ok, changed, failed, ...) in the PLAY RECAP.
recap() {
    sed -n "s/^berth-1 *:.* $2=\([0-9]*\).*/\1/p" "$WORK/$1.log" | tail -1
}
show_log() {
    printf -- '----- %s (last 60 lines) -----\n' "$1" >&2
    tail -n 60 "$WORK/$1.log" >&2
}
in_host() { podman exec "$HOST" "$@"; }
# unit_ids: "unit=InvocationID" of every long-running unit of the host.
unit_ids() {
    # shellcheck disable=SC2016 # expanded by the host's shell
    in_host sh -c 'for u in $(systemctl list-units --type=service --state=running --no-legend --plain | awk "{print \$1}" | sort); do
        echo "$u=$(systemctl show -p InvocationID --value "$u")"; done'
}
# host_state: what a play could change: files under /etc, /usr/local and
# /var/lib/berth (path, size, mode, owner, mtime), the berth user, every
# running unit's InvocationID, PostgreSQL's roles.
host_state() {
    in_host sh -c 'find /etc /usr/local /var/lib/berth -xdev -printf "%p %s %m %u %g %T@\n" 2>/dev/null | sort
        id berth 2>&1 || true
        runuser -u postgres -- psql -XAtc "SELECT string_agg(rolname, \",\" ORDER BY rolname) FROM pg_roles" 2>&1'
    unit_ids
}

# --- 1. lint ------------------------------------------------------------------------------
step "ansible-lint --profile production (deploy/ansible)"
(cd deploy/ansible && ansible-lint --offline --profile production --nocolor) >"$WORK/lint.log" 2>&1 ||
    { cat "$WORK/lint.log" >&2; die "ansible-lint found violations"; }
tail -n 3 "$WORK/lint.log" | sed 's/^/    /'

# --- 2. the host ------------------------------------------------------------------------------
step "a systemd host from Debian packages (Podman, --network=none)"
start=$SECONDS
IMAGE=$(host_image)
IMAGE_SECONDS=$((SECONDS - start))
podman rm -f -t 0 "$HOST" >/dev/null 2>&1 || true
podman run -d --name "$HOST" --hostname berth-1 --network=none --systemd=always "$IMAGE" /sbin/init >/dev/null
deadline=$((SECONDS + 60))
until [[ $(in_host systemctl is-system-running 2>/dev/null || true) =~ ^(running|degraded)$ ]]; do
    ((SECONDS < deadline)) || die "$HOST: systemd did not finish booting in 60 s"
    sleep 0.5
done
say "$HOST: $IMAGE, systemd $(in_host systemctl is-system-running || true)"

# --- 3. the vault -------------------------------------------------------------------------------
step "secrets: a vault from $INVENTORY/group_vars/all/vault.yml.example, encrypted"
gen_password >"$WORK/vault-pass"
python3 - "$INVENTORY/group_vars/all/vault.yml.example" "$WORK/vault.yml" <<'PY'
import re, secrets, sys
text = open(sys.argv[1]).read()
assert "<random>" in text
open(sys.argv[2], "w").write(re.sub("<random>", lambda _: secrets.token_hex(24), text))
PY
# A second vault lacking one password, for the bad-input check.
grep -v '^vault_berth_postgres_users_password:' "$WORK/vault.yml" >"$WORK/vault-missing.yml"
secret() { sed -n "s/^$1: *\[\{0,1\}\"\([^\"]*\)\".*/\1/p" "$WORK/vault.yml"; }
TOKEN=$(secret vault_berth_api_tokens)
KV_PW=$(secret vault_berth_redis_kv_password)
ADMIN_PW=$(secret vault_berth_redis_admin_password)
USERS_PW=$(secret vault_berth_postgres_users_password)
[[ -n $TOKEN && -n $KV_PW && -n $ADMIN_PW && -n $USERS_PW ]] || die "could not read the generated secrets"
ansible-vault encrypt --vault-password-file "$WORK/vault-pass" "$WORK/vault.yml" "$WORK/vault-missing.yml" >/dev/null 2>&1
[[ $(head -c 14 "$WORK/vault.yml") == "\$ANSIBLE_VAULT" ]] || die "the vault is not encrypted"
say "vault: $(grep -c '^vault_.*<random>' "$INVENTORY/group_vars/all/vault.yml.example") secrets, ansible-vault AES256"

# --- 4. bad input on the fresh host ----------------------------------------------------------------
step "bad input: a vault without vault_berth_postgres_users_password stops the run before any change"
before=$(host_state)
ansible-playbook -i "$INVENTORY/hosts.yml" -i "$HERE/single.yml" --vault-password-file "$WORK/vault-pass" \
    -e "@$WORK/vault-missing.yml" -e "berth_binary_src=$BIN" deploy/ansible/site.yml >"$WORK/bad1.log" 2>&1 &&
    { show_log bad1; die "site.yml succeeded without a PostgreSQL password"; }
grep -q 'berth_postgres_users_password' "$WORK/bad1.log" || { show_log bad1; die "the failure does not name berth_postgres_users_password"; }
[[ $(recap bad1 changed) == 0 ]] || { show_log bad1; die "the failed run changed something"; }
[[ $(host_state) == "$before" ]] || die "the failed run changed the host"
grep -m1 -o "[^\"]*vault_berth_postgres_users_password[^\"]*" "$WORK/bad1.log" | cut -c1-200 | sed 's/^/    message: /'
echo
say "stopped in preflight; changed=0; files, units and PostgreSQL roles on the host unchanged"

# --- 5. converge, twice ------------------------------------------------------------------------------
step "converge: ansible-playbook -i $INVENTORY/hosts.yml deploy/ansible/site.yml"
start=$SECONDS
playbook converge1 site.yml || { show_log converge1; die "site.yml failed"; }
CONVERGE1=$((SECONDS - start))
say "converged in ${CONVERGE1}s: ok=$(recap converge1 ok) changed=$(recap converge1 changed) failed=$(recap converge1 failed)"

step "idempotence: the second run reports changed=0"
start=$SECONDS
playbook converge2 site.yml || { show_log converge2; die "the second site.yml run failed"; }
CONVERGE2=$((SECONDS - start))
if [[ $(recap converge2 changed) != 0 ]]; then
    grep -B1 -A3 '^changed:' "$WORK/converge2.log" | sed -n 1,40p >&2
    die "second run: changed=$(recap converge2 changed), not 0"
fi
say "second run in ${CONVERGE2}s: ok=$(recap converge2 ok) changed=0"

# --- 6. verify inside the host ----------------------------------------------------------------------------
step "verify inside the host (ansible/verify.sh)"
lane=$(awk '/^COPY public.prices /{on=1; next} on && /^\\\./{exit} on {print $1, $2, $3}' deploy/compose/rates/sample.sql |
    sort | uniq -c | sort -k1,1nr -k2 | awk 'NR == 1 {print $2, $3, $4, $1}')
podman cp "$HERE/verify.sh" "$HOST:/root/verify.sh"
podman cp "$HERE/kv-redis-kill.py" "$HOST:/root/kv-redis-kill.py"
podman exec -e TOKEN="$TOKEN" -e KV_PW="$KV_PW" -e ADMIN_PW="$ADMIN_PW" -e USERS_PW="$USERS_PW" \
    -e RATES_LANE="$lane" -e EXPOSURE_MAX=2.0 "$HOST" bash /root/verify.sh

# --- 7. kv under a Redis SIGKILL ---------------------------------------------------------------------------
step "kv loses no acknowledged write: systemctl kill -s KILL redis-server mid-stream"
in_host python3 /root/kv-redis-kill.py

# --- 8. one setting, one restart ------------------------------------------------------------------------------
step "a changed setting restarts its unit alone: app.yml -e berth_clock_env={RUST_LOG: debug}"
before=$(unit_ids)
playbook setting app.yml -e '{"berth_clock_env": {"RUST_LOG": "debug"}}' || { show_log setting; die "app.yml with a new clock setting failed"; }
after=$(unit_ids)
restarted=$(comm -13 <(echo "$before") <(echo "$after") | cut -d= -f1 | tr '\n' ' ')
[[ $restarted == 'berth-clock.service ' ]] || die "restarted: '${restarted}', expected berth-clock.service only"
in_host grep -qx 'RUST_LOG=debug' /etc/berth/clock.env || die "/etc/berth/clock.env lacks RUST_LOG=debug"
say "changed=$(recap setting changed); restarted: $restarted; $(echo "$after" | wc -l) units, the others kept their InvocationID"

# --- 9. rolling restart ------------------------------------------------------------------------------------------
step "rolling-restart.yml (serial: 1, waits for /healthcheck)"
before=$(unit_ids)
start=$SECONDS
playbook rolling rolling-restart.yml || { show_log rolling; die "rolling-restart.yml failed"; }
ROLLING=$((SECONDS - start))
after=$(unit_ids)
restarted=$(comm -13 <(echo "$before") <(echo "$after") | cut -d= -f1 | sort | tr '\n' ' ')
expected='berth-clock.service berth-kv.service berth-multivac-worker.service berth-multivac.service berth-rates.service berth-users.service '
[[ $restarted == "$expected" ]] || die "rolling restart restarted '$restarted', expected '$expected'"
in_host grep -q 'RUST_LOG=info' /etc/berth/clock.env || die "rolling-restart.yml did not converge the settings back"
say "${ROLLING}s; restarted: $restarted(stores untouched)"

# --- 10. bad input on the converged host ----------------------------------------------------------------------------
step "bad input: an unknown service name stops the run before any change"
before=$(host_state)
playbook bad2 site.yml -e '{"berth_services": ["clock", "clokc"]}' && { show_log bad2; die "site.yml accepted service clokc"; }
if ! grep -q 'berth_services' "$WORK/bad2.log" || ! grep -q 'clokc' "$WORK/bad2.log"; then
    show_log bad2
    die "the failure does not name berth_services and clokc"
fi
[[ $(recap bad2 changed) == 0 ]] || { show_log bad2; die "the failed run changed something"; }
[[ $(host_state) == "$before" ]] || die "the failed run changed the host"
grep -m1 -o 'value of berth_services[^"]*' "$WORK/bad2.log" | cut -c1-200 | sed 's/^/    message: /'
echo
say "stopped in preflight; changed=0; no unit restarted, no file changed"

# --- 11. multi-tier ---------------------------------------------------------------------------------------------------
MT_CONVERGE1=- MT_CONVERGE2=- MT_ROLLING=-
if [[ ${BERTH_ANSIBLE_MULTI_TIER:-0} == 1 ]]; then
    step "the multi-tier inventory: app-1, app-2, db-1, mon-1 on one internal Podman network"
    multi_tier_check
fi

# --- summary --------------------------------------------------------------------------------------------------------
printf '\n==> [ansible] passed in %ss (host image %ss): converge %ss, idempotent second run %ss (changed=0), rolling restart %ss\n' \
    "$SECONDS" "$IMAGE_SECONDS" "$CONVERGE1" "$CONVERGE2" "$ROLLING"
if [[ ${BERTH_ANSIBLE_MULTI_TIER:-0} == 1 ]]; then
    printf '==> [ansible] multi-tier: converge %ss, second run %ss (changed=0), rolling restart %ss under load\n' \
        "$MT_CONVERGE1" "$MT_CONVERGE2" "$MT_ROLLING"
fi
cat <<'NOTE'
==> [ansible] not exercised here:
    - the release-URL install (berth_release_url + berth_release_sha256): the host has no network;
      the check installs from a local file (berth_binary_src), the air-gapped path
    - apt installing packages: the host has no network; its image carries the Debian packages the
      roles ask for (their apt tasks find them installed)
    - SSH and sudo to a real machine: Ansible reaches the host through the containers.podman
      connection as root
NOTE
if [[ ${BERTH_ANSIBLE_MULTI_TIER:-0} != 1 ]]; then
    echo "    - the multi-tier inventory (four hosts, HAProxy): skipped; BERTH_ANSIBLE_MULTI_TIER=1 runs it"
fi

if [[ ${BERTH_ANSIBLE_RECORD:-0} == 1 ]]; then
    BERTH_ANSIBLE_BINARY_VERSION="$("$BIN" --version)" python3 "$HERE/record.py" docs/benchmarks.md "$CONVERGE1" "$CONVERGE2" "$ROLLING" \
        "$MT_CONVERGE1" "$MT_CONVERGE2" "$MT_ROLLING" "$SECONDS" "$IMAGE_SECONDS"
fi
