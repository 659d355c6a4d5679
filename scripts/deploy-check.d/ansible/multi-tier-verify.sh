#!/bin/bash
# Runs on mon-1 of the multi-tier check (multi-tier.sh): HAProxy, the store's
# access rules and Prometheus as seen from the monitoring host.
# Environment: TOKEN, USERS_PW, DB (db-1's address).
set -euo pipefail
ok() { printf '    ok   %s\n' "$*"; }
fail() {
    printf '    FAIL %s\n' "$*" >&2
    exit 1
}
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

# HAProxy: both app hosts UP in every backend (runtime API), every service answers.
stat=$(python3 - <<'PY'
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("/run/haproxy/admin.sock")
s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
for line in data.decode().splitlines():
    f = line.split(",")
    if len(f) > 17 and f[1] not in ("FRONTEND", "BACKEND", "svname") and not line.startswith("#"):
        print(f[0], f[1], f[17])
PY
)
for svc in clock users rates kv multivac; do
    for host in app-1 app-2; do
        grep -qx "$svc $host UP" <<<"$stat" || fail "HAProxy: $svc/$host is not UP: $(tr '\n' ';' <<<"$stat")"
    done
done
ok "HAProxy: app-1 and app-2 UP in every backend (health check GET /healthcheck)"
[[ $(curl -fsS 'http://127.0.0.1:8080/clock?mirror_time=12:22') == '{"mirror_time":"12:22","actual_time":"11:38"}' ]] ||
    fail "clock through HAProxy"
for port in 8300 3000 5000 5001; do
    curl -fsS "http://127.0.0.1:$port/healthcheck" >/dev/null || fail "HAProxy :$port/healthcheck"
done
[[ $(curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:5001/multivac/data -H "Authorization: Bearer $TOKEN" -d 'data=multi-tier') == 200 ]] ||
    fail "multivac through HAProxy"
ok "through HAProxy on mon-1: clock answers, users/rates/kv/multivac healthy, multivac takes a datum"

# The stores refuse what is not an app host.
if out=$(PGPASSWORD=$USERS_PW psql -XAt "host=$DB dbname=users user=users connect_timeout=5" -c 'SELECT 1' 2>&1); then
    fail "PostgreSQL on db-1 admits mon-1"
fi
[[ $out == *"no pg_hba.conf entry"* ]] || fail "PostgreSQL refused mon-1 for another reason: $out"
ok "PostgreSQL on db-1 refuses mon-1 (no pg_hba.conf entry: only the app hosts)"
[[ $(redis-cli -h "$DB" ping 2>&1) == *NOAUTH* ]] || fail "Redis on db-1 answers without a login"
ok "Redis on db-1: no login, no command (NOAUTH)"

# Prometheus scrapes every unit of both app hosts.
deadline=$((SECONDS + 60))
while :; do
    targets=$(curl -fsS http://127.0.0.1:9090/api/v1/targets)
    up=$(json "sum(1 for t in j['data']['activeTargets'] if t['health'] == 'up')" <<<"$targets")
    all=$(json "len(j['data']['activeTargets'])" <<<"$targets")
    [[ $up != "$all" ]] || break
    ((SECONDS < deadline)) || fail "Prometheus: $up of $all targets up"
    sleep 2
done
[[ $all == 13 ]] || fail "Prometheus scrapes $all targets, not 13 (6 per app host and itself)"
hosts=$(json "' '.join(sorted({t['labels'].get('host', '') for t in j['data']['activeTargets']} - {''}))" <<<"$targets")
[[ $hosts == 'app-1 app-2' ]] || fail "Prometheus target hosts: $hosts"
ok "Prometheus on mon-1: 13 targets up (6 units on each of app-1 and app-2, itself)"
