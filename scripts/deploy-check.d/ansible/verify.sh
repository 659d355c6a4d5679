#!/bin/bash
# Runs inside a host converged by site.yml (single-host inventory) and checks
# it for real; scripts/deploy-check.d/ansible.sh copies it in and runs it with
# `podman exec`.
# Prints one line per check; exits 1 on the first failure.
#
# Environment (from the check's vault): TOKEN (an API token), KV_PW, ADMIN_PW,
# USERS_PW (PostgreSQL role users), RATES_LANE ("ORIG DEST DAY COUNT" of the
# sample dump), EXPOSURE_MAX (2.0).
set -euo pipefail

ok() { printf '    ok   %s\n' "$*"; }
fail() {
    printf '    FAIL %s\n' "$*" >&2
    exit 1
}
# json EXPR: evaluate a Python expression on the JSON document on stdin (j).
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

units=(berth-clock berth-users berth-rates berth-kv berth-multivac berth-multivac-worker)
ports=(8080 8300 3000 5000 5001 9101)

# --- systemd ---------------------------------------------------------------------
state=$(systemctl is-system-running || true)
[[ $state == running ]] || fail "systemctl is-system-running: $state ($(systemctl --failed --no-legend | tr '\n' ' '))"
ok "systemctl is-system-running: running (no failed unit)"
for u in "${units[@]}" berth.target berth-healthcheck.timer postgresql@15-main redis-server prometheus; do
    [[ $(systemctl is-active "$u") == active ]] || fail "$u is not active"
done
for u in berth.target postgresql@15-main redis-server prometheus; do
    [[ $(systemctl is-enabled "$u") == enabled ]] || fail "$u is not enabled (started at boot)"
done
wants=$(systemctl show -p Wants --value berth.target | tr ' ' '\n' | sort | tr '\n' ' ')
for u in "${units[@]}" berth-healthcheck; do
    [[ $wants == *"$u".* ]] || fail "berth.target does not want $u: $wants"
done
ok "active: ${units[*]} berth-healthcheck.timer postgresql@15-main redis-server prometheus; berth.target (enabled) wants every berth unit"

for u in "${units[@]}" berth-healthcheck berth-rates-load; do
    score=$(systemd-analyze security --no-pager "$u.service" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
    [[ -n $score ]] || fail "systemd-analyze security $u: no score"
    python3 -c "import sys; sys.exit(0 if float('$score') <= float('${EXPOSURE_MAX:-2.0}') else 1)" ||
        fail "systemd-analyze security $u: exposure $score > ${EXPOSURE_MAX:-2.0}"
    printf '    ok   systemd-analyze security %s: %s\n' "$u" "$score"
done
for u in "${units[@]}"; do
    props=$(systemctl show -p User -p NoNewPrivileges -p ProtectSystem -p ProtectHome -p PrivateTmp \
        -p CapabilityBoundingSet -p MemoryMax -p Restart -p ReadWritePaths "$u")
    grep -qx 'User=berth' <<<"$props" || fail "$u does not run as berth: $props"
    grep -qx 'NoNewPrivileges=yes' <<<"$props" || fail "$u: NoNewPrivileges"
    grep -qx 'ProtectSystem=strict' <<<"$props" || fail "$u: ProtectSystem"
    grep -qx 'CapabilityBoundingSet=' <<<"$props" || fail "$u: CapabilityBoundingSet not empty"
    grep -qx 'Restart=on-failure' <<<"$props" || fail "$u: Restart"
    grep -q '^MemoryMax=[0-9]' <<<"$props" || fail "$u: MemoryMax"
    grep -qx "ReadWritePaths=/var/lib/berth/${u#berth-}" <<<"$props" || fail "$u: ReadWritePaths: $props"
    pid=$(systemctl show -p MainPID --value "$u")
    [[ $(stat -c %U "/proc/$pid") == berth ]] || fail "$u: process $pid does not run as berth"
    grep -q '^CapEff:[[:space:]]*0000000000000000' "/proc/$pid/status" || fail "$u: process has capabilities"
done
ok "every berth unit: user berth, no capabilities, NoNewPrivileges, ProtectSystem=strict, ReadWritePaths its data dir, MemoryMax, Restart=on-failure"
log=$(journalctl -u berth-clock -o cat -n 20 --no-pager)
grep -q '"level"' <<<"$log" || fail "berth-clock logs no JSON lines to journald"
ok "logs: JSON lines in journald (journalctl -u berth-clock)"

# --- secrets on disk -------------------------------------------------------------------
for f in /etc/berth/*.env /etc/berth/credentials/*; do
    [[ $(stat -c '%a %U' "$f") == '600 root' ]] || fail "$f is $(stat -c '%a %U' "$f"), not 600 root"
done
if grep -rqsF -e "$KV_PW" -e "$USERS_PW" -e "$TOKEN" /etc/berth/*.env /etc/systemd/system/berth-*.service; then
    fail "a secret is in an environment file or a unit"
fi
if grep -rqsF -e "$KV_PW" /etc/redis/berth-users.acl; then fail "clear-text password in the Redis ACL file"; fi
ok "settings (/etc/berth/*.env) and credentials 0600 root; no secret in an env file, a unit or the ACL file"

# --- every service: /healthcheck and one real request ------------------------------------
for i in "${!units[@]}"; do
    body=$(curl -fsS "http://127.0.0.1:${ports[$i]}/healthcheck") || fail "${units[$i]}: /healthcheck is not 200"
    [[ $(json "j['status']" <<<"$body") == ok ]] || fail "${units[$i]}: /healthcheck says $body"
done
ok "/healthcheck 200 {\"status\":\"ok\"} on :${ports[*]}"

got=$(curl -fsS 'http://127.0.0.1:8080/clock?mirror_time=12:22')
[[ $got == '{"mirror_time":"12:22","actual_time":"11:38"}' ]] || fail "clock: $got"
ok "clock: GET /clock?mirror_time=12:22 -> 11:38"

name="ansible-$RANDOM$RANDOM"
code=$(curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:8300/user --json "{\"name\":\"$name\",\"coins\":5}")
[[ $code == 401 ]] || fail "users: POST /user without a token answered $code, not 401"
code=$(curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:8300/user -H "Authorization: Bearer $TOKEN" \
    --json "{\"name\":\"$name\",\"coins\":5}")
[[ $code == 201 ]] || fail "users: POST /user answered $code"
[[ $(curl -fsS 'http://127.0.0.1:8300/user?limit=1000' | json "[u['coins'] for u in j if u['name'] == '$name']") == '[5]' ]] ||
    fail "users: the new user is not in GET /user"
ok "users (PostgreSQL): POST /user 401 without the token, 201 with it; GET /user lists it"

read -r orig dest day count <<<"$RATES_LANE"
got=$(curl -fsS "http://127.0.0.1:3000/rates?date_from=$day&date_to=$day&orig_code=$orig&dest_code=$dest" | json "j['rates'][0]['count']")
[[ $got == "$count" ]] || fail "rates: $orig -> $dest on $day: count $got, the dump has $count"
ok "rates (PostgreSQL, sample dump loaded): $orig -> $dest on $day has $count prices, as in the dump"

key="ansible-$RANDOM$RANDOM"
code=$(curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:5000/set --json "{\"id\":\"$key\",\"data\":\"x\"}")
[[ $code == 201 ]] || fail "kv: POST /set answered $code"
[[ $(curl -fsS "http://127.0.0.1:5000/get/$key") == "{\"$key\":\"x\"}" ]] || fail "kv: GET /get/$key"
ok "kv (Redis): POST /set 201, GET /get returns it"

datum="ansible check $RANDOM$RANDOM"
code=$(curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:5001/multivac/data -d "data=$datum")
[[ $code == 401 ]] || fail "multivac: POST without a token answered $code, not 401"
[[ $(curl -fsS http://127.0.0.1:5001/multivac/data -H "Authorization: Bearer $TOKEN" -d "data=$datum") == *'MultiVAC updated'* ]] ||
    fail "multivac: POST /multivac/data"
deadline=$((SECONDS + 30))
until [[ $(curl -fsS http://127.0.0.1:5001/multivac/stats | json "j['processed']") -ge 1 ]]; do
    ((SECONDS < deadline)) || fail "multivac: the worker processed nothing in 30 s"
    sleep 0.5
done
metrics=$(curl -fsS http://127.0.0.1:9101/metrics)
grep -q '^multivac_processed_total' <<<"$metrics" || fail "multivac worker: no multivac_processed_total on :9101/metrics"
ok "multivac (Redis Streams + PostgreSQL): POST 401 without the token; queued with it, processed by berth-multivac-worker"

# --- Redis ----------------------------------------------------------------------------------
[[ $(redis-cli -h 127.0.0.1 ping 2>&1) == *NOAUTH* ]] || fail "Redis: the default user is not off"
[[ $(REDISCLI_AUTH=$ADMIN_PW redis-cli --no-auth-warning -h 127.0.0.1 --user admin config get appendfsync | tail -1) == always ]] ||
    fail "Redis: appendfsync is not always"
[[ $(REDISCLI_AUTH=$KV_PW redis-cli --no-auth-warning -h 127.0.0.1 --user kv flushall 2>&1) == *NOPERM* ]] ||
    fail "Redis: user kv may FLUSHALL"
ok "Redis: default user off (NOAUTH), appendfsync always, ACL user kv refused FLUSHALL (NOPERM)"

# --- PostgreSQL -------------------------------------------------------------------------------
listen=$(ss -ltnH 'sport = :5432' | awk '{print $4}' | sort | tr '\n' ' ')
[[ -n $listen ]] || fail "PostgreSQL does not listen on 5432"
for a in $listen; do
    [[ $a == 127.0.0.1:5432 || $a == '[::1]:5432' ]] || fail "PostgreSQL listens on $a (all: $listen)"
done
supers=$(runuser -u postgres -- psql -XAtc "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolsuper")
[[ $supers == postgres ]] || fail "PostgreSQL superusers: $supers"
PGPASSWORD=$USERS_PW psql -XAt "host=127.0.0.1 dbname=users user=users" -c 'SELECT 1' >/dev/null ||
    fail "PostgreSQL: role users cannot log in to its database"
if PGPASSWORD=$USERS_PW psql -XAt "host=127.0.0.1 dbname=rates user=users" -c 'SELECT 1' >/dev/null 2>&1; then
    fail "PostgreSQL: role users reaches the rates database"
fi
[[ $(runuser -u postgres -- psql -XAtc "SELECT rolpassword LIKE 'SCRAM-SHA-256%' FROM pg_authid WHERE rolname = 'users'") == t ]] ||
    fail "PostgreSQL: the users password is not a SCRAM verifier"
ok "PostgreSQL: listens on localhost only, postgres the only superuser, role users (scram-sha-256) reaches its database and not rates'"

# --- Prometheus ---------------------------------------------------------------------------------
deadline=$((SECONDS + 60))
while :; do
    down=$(curl -fsS http://127.0.0.1:9090/api/v1/targets |
        json "' '.join(sorted(t['labels']['job'] for t in j['data']['activeTargets'] if t['health'] != 'up'))")
    jobs=$(curl -fsS http://127.0.0.1:9090/api/v1/targets | json "' '.join(sorted(t['labels']['job'] for t in j['data']['activeTargets']))")
    [[ -n $down ]] || break
    ((SECONDS < deadline)) || fail "Prometheus: targets not up after 60 s: $down"
    sleep 2
done
[[ $jobs == 'clock kv multivac multivac-worker prometheus rates users' ]] || fail "Prometheus scrapes: $jobs"
groups=$(curl -fsS http://127.0.0.1:9090/api/v1/rules | json "' '.join(sorted(g['name'] for g in j['data']['groups']))")
[[ $groups == *berth-availability* && $groups == *berth-multivac* ]] || fail "Prometheus rule groups: $groups"
deadline=$((SECONDS + 60))
until [[ $(curl -fsS 'http://127.0.0.1:9090/api/v1/query?query=berth_health_check_up' | json "len(j['data']['result'])") != 0 ]]; do
    ((SECONDS < deadline)) || fail "Prometheus: no berth_health_check_up series (berth-healthcheck.timer)"
    sleep 2
done
ok "Prometheus: every target up ($jobs), rule groups loaded ($groups), berth_health_check_up present"
