#!/usr/bin/env bash
# users on PostgreSQL (a throwaway one from scripts/testenv.sh):
#  - transfers/s of `POST /transfers` (random pairs among BENCH_USERS users, 1 coin,
#    bearer token, no Idempotency-Key) against pgbench running the SQL berth sends for
#    a transfer, `SELECT * FROM transfer(from, to, 1, NULL)` (prepared, one statement,
#    one transaction; the function is in crates/users/migrations/postgres), same
#    connections, rounds alternated so that noise hits both alike. For context, pgbench
#    also runs the function's statements spelled out in a BEGIN ... COMMIT
#    (lock both rows in id order, two UPDATEs, the ledger INSERT): one round trip each;
#  - latency of `GET /user` (the BENCH_USERS users, one page) at the same connections,
#    with the default read pool (4 sessions) and, in the same rounds, through a second
#    berth on the same database whose read pool has as many sessions as the write pool
#    (16: one pool for everything, as before the pools were split). wrk keeps every
#    connection busy, so those figures are latencies at saturation: queueing on two
#    shared cores. A latency objective is met at an offered load below it, so the same
#    32 connections then run paced (each waits a fixed think time between its requests,
#    wrk's `delay()`), offering about half the throughput measured at saturation;
#  - A/B rows "sessions", in the same rounds: `POST /transfers` and `GET /user` through
#    the default build (deadpool sessions, a round trip only for a session whose last
#    use did not finish, and before each write) against a berth built with the feature
#    `users/sqlx-pool` (sqlx's `PgPool`: reads untested before use,
#    `test_before_acquire(false)`, as rates; writes tested; sqlx pings every connection
#    as it goes back), same pool sizes, same database.
# Knobs: BENCH_CONNECTIONS (32), BENCH_DURATION (10s), BENCH_ROUNDS (3), BENCH_USERS (100).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench.d/lib.sh
source scripts/bench.d/lib.sh

load_start=$(loadavg)
conns=${BENCH_CONNECTIONS:-32}
duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-3}
nusers=${BENCH_USERS:-100}
seconds=${duration%s}

ensure_cmds wrk:wrk
ensure_cmds curl:curl
ensure_cmds pgbench:postgresql-client-15  # pgbench and psql
echo "==> building the release binaries (berth on sqlx's pools first)"
bin=$(variant_berth default)
sqlxbin=$(variant_berth sqlx-pool --features users/sqlx-pool)

work=$(mktemp -d)
chmod 755 "$work"  # the postgres user of testenv.sh must reach $work/env
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/testenv.sh down "$work/env" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> starting PostgreSQL (scripts/testenv.sh)"
testenv_up "$work/env"
pg_url=$BERTH_TEST_PG_URL
token=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

port=$(free_port)
BERTH_DATA_DIR="$work/data" BERTH_API_TOKENS="$token" BERTH_LOG_FORMAT=json RUST_LOG=info \
  "$bin" serve users --users-addr "127.0.0.1:$port" --users-database-url "$pg_url" \
  > "$work/berth.log" 2>&1 &
pids+=($!)
base="http://127.0.0.1:$port"
wide_port=$(free_port)
BERTH_DATA_DIR="$work/data-wide" BERTH_API_TOKENS="$token" BERTH_LOG_FORMAT=json RUST_LOG=info \
  BERTH_USERS_READ_POOL_SIZE=16 \
  "$bin" serve users --users-addr "127.0.0.1:$wide_port" --users-database-url "$pg_url" \
  > "$work/berth-wide.log" 2>&1 &
pids+=($!)
wide="http://127.0.0.1:$wide_port"
sqlx_port=$(free_port)
BERTH_DATA_DIR="$work/data-sqlx" BERTH_API_TOKENS="$token" BERTH_LOG_FORMAT=json RUST_LOG=info \
  "$sqlxbin" serve users --users-addr "127.0.0.1:$sqlx_port" --users-database-url "$pg_url" \
  > "$work/berth-sqlx.log" 2>&1 &
pids+=($!)
sqlx="http://127.0.0.1:$sqlx_port"
wait_http "$base/healthcheck"
wait_http "$wide/healthcheck"
wait_http "$sqlx/healthcheck"

# psql and pgbench see the tables as berth does (search_path = its schema berth_users).
in_schema() { PGOPTIONS='-c search_path=berth_users' "$@"; }

echo "==> creating $nusers users"
for i in $(seq 1 "$nusers"); do
  curl -fsS -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench$i\",\"coins\":1000000000000}" "$base/user"
done
read -r lo hi count < <(in_schema psql -qAt -F' ' "$pg_url" -c 'SELECT min(id), max(id), count(*) FROM users')
if [ "$count" -ne "$nusers" ] || [ $((hi - lo + 1)) -ne "$nusers" ]; then
  echo "expected $nusers users with consecutive ids, got $count in $lo..$hi" >&2
  exit 1
fi

# Random pairs: a uniform among the users, b uniform among the others.
cat > "$work/transfer.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  lo, n = tonumber(args[1]), tonumber(args[2])
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(os.time() * 1000 + seed)
end
function request()
  local a = math.random(0, n - 1)
  local b = (a + math.random(1, n - 1)) % n
  return wrk.format(nil, "/transfers", nil,
    string.format('{"from":%d,"to":%d,"amount":1}', lo + a, lo + b))
end
LUA
# The same pairs, the same statement, the same search_path (the schema berth_users).
cat > "$work/transfer.sql" <<'SQL'
\set a random(0, :n - 1)
\set b (:a + random(1, :n - 1)) % :n
\set from :lo + :a
\set to :lo + :b
SELECT * FROM transfer(:from, :to, 1, NULL);
SQL
# What the function does, as separate statements in one transaction.
cat > "$work/spelled.sql" <<'SQL'
\set a random(0, :n - 1)
\set b (:a + random(1, :n - 1)) % :n
\set from :lo + :a
\set to :lo + :b
BEGIN;
SELECT id, coins FROM users WHERE id IN (:from, :to) ORDER BY id FOR UPDATE;
UPDATE users SET coins = coins - 1 WHERE id = :from;
UPDATE users SET coins = coins + 1 WHERE id = :to;
INSERT INTO transfers (from_id, to_id, amount, from_balance, to_balance)
  VALUES (:from, :to, 1, 0, 0) RETURNING id, created_at;
COMMIT;
SQL
pgbench_tps() {
  local out
  out=$(in_schema pgbench -n -M prepared -c "$conns" -j 2 -T "$seconds" -D lo="$lo" -D n="$nusers" \
    -f "$1" "$pg_url" 2>&1) || { echo "$out" >&2; return 1; }
  if ! grep -q 'number of failed transactions: 0 ' <<< "$out"; then echo "$out" >&2; return 1; fi
  awk '/^tps = / {printf "%.1f\n", $3}' <<< "$out"
}
wrk_args=(-t2 "-c$conns" "-d$duration")

echo "==> warm-up"
in_schema pgbench -n -M prepared -c "$conns" -j 2 -T 2 -D lo="$lo" -D n="$nusers" -f "$work/transfer.sql" "$pg_url" >/dev/null 2>&1
wrk_report "$work/wrk.txt" "$base" -t2 "-c$conns" -d2s -s "$work/transfer.lua" -- "$lo" "$nusers" "$token"
wrk_report "$work/wrk.txt" "$sqlx" -t2 "-c$conns" -d2s -s "$work/transfer.lua" -- "$lo" "$nusers" "$token"
pg_tps=(); spelled_tps=(); berth_tps=(); sqlx_tps=()
for r in $(seq 1 "$rounds"); do
  p=$(pgbench_tps "$work/transfer.sql")
  wrk_report "$work/wrk.txt" "$base" "${wrk_args[@]}" -s "$work/transfer.lua" -- "$lo" "$nusers" "$token"
  b=$(report_rps "$work/wrk.txt")
  s=$(pgbench_tps "$work/spelled.sql")
  wrk_report "$work/wrk.txt" "$sqlx" "${wrk_args[@]}" -s "$work/transfer.lua" -- "$lo" "$nusers" "$token"
  q=$(report_rps "$work/wrk.txt")
  echo "    round $r: pgbench transfer() $p tps, berth POST /transfers $b req/s, pgbench spelled out $s tps, berth on sqlx's pools $q req/s"
  pg_tps+=("$p"); berth_tps+=("$b"); spelled_tps+=("$s"); sqlx_tps+=("$q")
done
pg_med=$(median "${pg_tps[@]}"); berth_med=$(median "${berth_tps[@]}"); spelled_med=$(median "${spelled_tps[@]}")
ratio=$(ratio "$berth_med" "$pg_med")
spelled_ratio=$(ratio "$berth_med" "$spelled_med")
echo "    median: pgbench $pg_med tps, berth $berth_med req/s, ratio $ratio (spelled out: $spelled_med tps, ratio $spelled_ratio)"
sqlx_med=$(median "${sqlx_tps[@]}"); sessions_ratio=$(ratio "$berth_med" "$sqlx_med")
echo "    median: berth on sqlx's pools $sqlx_med req/s (deadpool/sqlx $sessions_ratio)"

# Nothing created or lost: the coins add up, and the ledger has every transfer.
read -r total ledger < <(in_schema psql -qAt -F' ' "$pg_url" \
  -c 'SELECT (SELECT sum(coins) FROM users), (SELECT count(*) FROM transfers)')
[ "$total" -eq $((nusers * 1000000000000)) ] || { echo "coins do not add up: $total" >&2; exit 1; }
echo "    coins add up after $ledger transfers"

echo "==> GET /user latency"
# The rounds start as pgbench starts its own (without -n): the tables vacuumed after the
# transfers (a dead row version per update, a ledger row each, which autovacuum would
# otherwise work through during the rounds), and the checkpoint that the write
# phase called for done, so that neither lands in the middle of a round.
in_schema psql -qX "$pg_url" -c 'VACUUM (ANALYZE)' -c 'CHECKPOINT'
curl -fsS "$base/user" | python3 -c "import json,sys; n=len(json.load(sys.stdin)); assert n == $nusers, n"
wrk_report "$work/list.txt" "$base/user" -t2 "-c$conns" -d2s
wrk_report "$work/wide.txt" "$wide/user" -t2 "-c$conns" -d2s
wrk_report "$work/sqlx.txt" "$sqlx/user" -t2 "-c$conns" -d2s
# /livez (no store, tiny body) in the same rounds: the noise floor of this machine.
list_p99=(); list_p50=(); list_rps=(); livez_p99=(); livez_rps=(); wide_p99=(); wide_rps=()
sqlx_p50=(); sqlx_p99=(); sqlx_rps=()
for r in $(seq 1 "$rounds"); do
  wrk_report "$work/list.txt" "$base/user" "${wrk_args[@]}" --latency
  list_p50+=("$(report_ms "$work/list.txt" 50)"); list_p99+=("$(report_ms "$work/list.txt" 99)")
  list_rps+=("$(report_rps "$work/list.txt")")
  wrk_report "$work/livez.txt" "$base/livez" "${wrk_args[@]}" --latency
  livez_p99+=("$(report_ms "$work/livez.txt" 99)"); livez_rps+=("$(report_rps "$work/livez.txt")")
  wrk_report "$work/wide.txt" "$wide/user" "${wrk_args[@]}" --latency
  wide_p99+=("$(report_ms "$work/wide.txt" 99)"); wide_rps+=("$(report_rps "$work/wide.txt")")
  wrk_report "$work/sqlx.txt" "$sqlx/user" "${wrk_args[@]}" --latency
  sqlx_p50+=("$(report_ms "$work/sqlx.txt" 50)"); sqlx_p99+=("$(report_ms "$work/sqlx.txt" 99)")
  sqlx_rps+=("$(report_rps "$work/sqlx.txt")")
  echo "    round $r: GET /user ${list_rps[-1]} req/s, p50 ${list_p50[-1]} ms, p99 ${list_p99[-1]} ms;" \
    "GET /livez ${livez_rps[-1]} req/s, p99 ${livez_p99[-1]} ms;" \
    "GET /user, read pool 16: ${wide_rps[-1]} req/s, p99 ${wide_p99[-1]} ms;" \
    "GET /user on sqlx's pools: ${sqlx_rps[-1]} req/s, p50 ${sqlx_p50[-1]} ms, p99 ${sqlx_p99[-1]} ms"
done
p99_med=$(median "${list_p99[@]}"); p50_med=$(median "${list_p50[@]}"); list_med=$(median "${list_rps[@]}")
livez_p99_med=$(median "${livez_p99[@]}"); livez_med=$(median "${livez_rps[@]}")
wide_p99_med=$(median "${wide_p99[@]}"); wide_med=$(median "${wide_rps[@]}")
sqlx_list_med=$(median "${sqlx_rps[@]}"); sqlx_p50_med=$(median "${sqlx_p50[@]}"); sqlx_p99_med=$(median "${sqlx_p99[@]}")
list_sessions_ratio=$(ratio "$list_med" "$sqlx_list_med")
echo "    median: GET /user on sqlx's pools $sqlx_list_med req/s, p50 $sqlx_p50_med ms, p99 $sqlx_p99_med ms (deadpool/sqlx $list_sessions_ratio)"
echo "    median: GET /user $list_med req/s, p50 $p50_med ms, p99 $p99_med ms; GET /livez $livez_med req/s, p99 $livez_p99_med ms;" \
  "read pool 16: $wide_med req/s, p99 $wide_p99_med ms"

# Paced: each connection waits think_ms between a response and its next request, so the
# 32 connections offer at most conns / think_ms; think_ms is chosen for half of the
# saturated throughput just measured.
think_ms=$(python3 -c "print(max(1, round($conns / ($list_med / 2) * 1000)))")
cat > "$work/paced.lua" <<LUA
function delay()
  return $think_ms
end
LUA
paced_p99=(); paced_p50=(); paced_rps=()
for r in $(seq 1 "$rounds"); do
  wrk_report "$work/paced.txt" "$base/user" "${wrk_args[@]}" --latency -s "$work/paced.lua"
  paced_p50+=("$(report_ms "$work/paced.txt" 50)"); paced_p99+=("$(report_ms "$work/paced.txt" 99)")
  paced_rps+=("$(report_rps "$work/paced.txt")")
  echo "    paced round $r (think time $think_ms ms): GET /user ${paced_rps[-1]} req/s, p50 ${paced_p50[-1]} ms, p99 ${paced_p99[-1]} ms"
done
paced_p99_med=$(median "${paced_p99[@]}"); paced_p50_med=$(median "${paced_p50[@]}"); paced_med=$(median "${paced_rps[@]}")
echo "    median, paced: GET /user $paced_med req/s, p50 $paced_p50_med ms, p99 $paced_p99_med ms"

cat > "$work/section.md" <<MD
## users on PostgreSQL: transfers and listing

Measured $(date -u +%Y-%m-%d) on: $(machine); load average $load_start at the start, $(loadavg) at the end.
Command: \`scripts/bench users\` (PostgreSQL $(psql -qAt "$pg_url" -c 'SHOW server_version') from
\`scripts/testenv.sh\`, default durability: \`fsync\`, \`synchronous_commit\` on; $nusers users;
wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}') \`${wrk_args[*]}\` and
\`pgbench -n -M prepared -c $conns -j 2 -T $seconds\`, $rounds alternated rounds, medians). The
\`GET /user\` rounds come after \`VACUUM (ANALYZE)\` and a \`CHECKPOINT\` (the transfers
leave a dead row version per update and a ledger row behind: autovacuum would work
through them during the rounds).

| measure | figure | target |
|---|---|---|
| pgbench: \`SELECT * FROM transfer(a, b, 1, NULL)\`, random pairs (the statement berth sends) | $pg_med tps | baseline |
| berth \`POST /transfers\` (JSON, bearer token, random pairs; pool of 16, the default) | $berth_med transfers/s | |
| berth / pgbench | **$ratio** ($(verdict "$ratio >= 0.6")) | ≥ 0.60 |
| pgbench: the function's statements spelled out in \`BEGIN\` … \`COMMIT\` (6 round trips) | $spelled_med tps (berth is **$spelled_ratio** of it) | context |
| \`GET /user\` ($nusers users, one page; read pool of 4, the default), at saturation (wrk keeps all $conns connections busy) | $list_med req/s, p50 $p50_med ms, p99 **$p99_med ms** ($(verdict "$p99_med <= 5")) | p99 ≤ 5 ms |
| the same $conns connections paced at half that throughput (think time $think_ms ms between a response and the next request) | $paced_med req/s, p50 $paced_p50_med ms, p99 **$paced_p99_med ms** ($(verdict "$paced_p99_med <= 5")) | p99 ≤ 5 ms |
| \`GET /livez\` (no store; the noise floor), same rounds | $livez_med req/s, p99 $livez_p99_med ms | context |
| \`GET /user\` through a second berth whose read pool has 16 sessions (one pool for all, as before the split), same rounds | $wide_med req/s, p99 $wide_p99_med ms | context |
| **A/B** sessions: deadpool (default build) / sqlx \`PgPool\` (feature \`users/sqlx-pool\`): \`POST /transfers\` | $berth_med / $sqlx_med req/s = **$sessions_ratio** | deadpool kept if ≥ 1.03 |
| **A/B** sessions: deadpool / sqlx \`PgPool\`: \`GET /user\` at saturation, req/s; p50; p99 | $list_med / $sqlx_list_med req/s = **$list_sessions_ratio**; p50 $p50_med / $sqlx_p50_med ms; p99 $p99_med / $sqlx_p99_med ms | deadpool kept if ≥ 1.03 |

Rounds (pgbench, berth, spelled out): $(for i in "${!pg_tps[@]}"; do printf '(%s, %s, %s) ' "${pg_tps[$i]}" "${berth_tps[$i]}" "${spelled_tps[$i]}"; done)
\`GET /user\` rounds (req/s, p99 ms; then /livez; then read pool 16): $(for i in "${!list_rps[@]}"; do printf '(%s, %s; %s, %s; %s, %s) ' "${list_rps[$i]}" "${list_p99[$i]}" "${livez_rps[$i]}" "${livez_p99[$i]}" "${wide_rps[$i]}" "${wide_p99[$i]}"; done)
A/B rounds, sqlx's pools (\`POST /transfers\` req/s; \`GET /user\` req/s, p50 ms, p99 ms): $(for i in "${!sqlx_tps[@]}"; do printf '(%s; %s, %s, %s) ' "${sqlx_tps[$i]}" "${sqlx_rps[$i]}" "${sqlx_p50[$i]}" "${sqlx_p99[$i]}"; done)
Paced rounds (req/s, p50 ms, p99 ms): $(for i in "${!paced_rps[@]}"; do printf '(%s, %s, %s) ' "${paced_rps[$i]}" "${paced_p50[$i]}" "${paced_p99[$i]}"; done)
After the run the coins add up ($ledger transfers in the ledger). wrk, pgbench, berth and
PostgreSQL share the same two cores.

A/B "sessions": both builds have the same pool sizes (16 for writes, 4 for reads) and
run on the same database within the same rounds. In this run the deadpool sessions
served $(percent_vs "$berth_med" "$sqlx_med") \`POST /transfers\` and $(percent_vs "$list_med" "$sqlx_list_med") \`GET /user\` requests/s than sqlx's
\`PgPool\` (which sends a ping as each connection goes back, and before each write as
the sessions do). Round by round, the sessions beat sqlx's pools in $(rounds_below "${sqlx_tps[*]}" "${berth_tps[*]}") rounds of
\`POST /transfers\` and $(rounds_below "${sqlx_rps[*]}" "${list_rps[*]}") of \`GET /user\`. One berth's requests/s moved by up to
$(largest "$(spread "${berth_tps[@]}")" "$(spread "${sqlx_tps[@]}")" "$(spread "${list_rps[@]}")" "$(spread "${sqlx_rps[@]}")")% from one round to the next in this run: a difference smaller than that
says little.
MD
write_section users "$work/section.md"
echo "==> wrote docs/benchmarks.md (section users)"
