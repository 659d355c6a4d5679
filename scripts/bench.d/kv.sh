#!/usr/bin/env bash
# kv on Redis (a throwaway one from scripts/testenv.sh: the shipped redis.conf, ACL
# users, `appendonly yes`, `appendfsync always`):
#  - requests/s of `GET /get/{id}` through berth against redis-benchmark's `GET` of the
#    same keys from the same Redis as the same ACL user (kv), same connections, rounds
#    alternated so that noise hits both alike; BENCH_KEYS keys exist, ids drawn at random;
#    beside them, the same berth's `GET /livez` (the kit's HTTP path, no store): the
#    ceiling any store could reach through this HTTP stack on this machine;
#  - p50 / p99 latency of a lone client (one connection): redis-benchmark `GET`, berth
#    `GET /get/{id}` and `GET /livez`, so that batching the writes to Redis is seen not
#    to cost a client alone;
#  - the cost of `appendfsync always` on writes: `POST /set` (replacing random existing
#    keys) with `always` (the shipped config) against `everysec` (switched with
#    `CONFIG SET` as the admin user), alternated; redis-benchmark `SET` likewise, for
#    context;
#  - A/B rows, in the same alternated rounds: write coalescing on (the default) against
#    off (a second berth with `--kv-redis-coalesce=false` on the same Redis) for
#    `GET /get/{id}`, `POST /set` (`appendfsync always`) and the lone client's latency;
#    jemalloc (the default build) against the C library's malloc (berth built
#    `--no-default-features`) for `GET /get/{id}` and `POST /set`.
# Knobs: BENCH_CONNECTIONS (32), BENCH_DURATION (10s), BENCH_ROUNDS (3), BENCH_KEYS (1000),
# BENCH_REDIS_REQUESTS (requests per redis-benchmark run, 400000).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench.d/lib.sh
source scripts/bench.d/lib.sh

load_start=$(loadavg)
conns=${BENCH_CONNECTIONS:-32}
duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-3}
nkeys=${BENCH_KEYS:-1000}
requests=${BENCH_REDIS_REQUESTS:-400000}
value=$(head -c 100 /dev/zero | tr '\0' v)  # 100 bytes

ensure_cmds wrk:wrk
ensure_cmds curl:curl
ensure_cmds redis-benchmark:redis-tools
echo "==> building the release binaries (berth with the system allocator first)"
bin=$(variant_berth default)
sysbin=$(variant_berth system --no-default-features)

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

echo "==> starting Redis (scripts/testenv.sh)"
testenv_up "$work/env"
kv_url=$BERTH_TEST_REDIS_URL
admin() { redis-cli --no-auth-warning -u "$BERTH_TEST_REDIS_ADMIN_URL" "$@"; }
[ "$(admin CONFIG GET appendfsync | tail -1)" = always ] || { echo "expected appendfsync always" >&2; exit 1; }

echo "==> writing $nkeys keys"
# redis-benchmark's __rand_int__ with -r N is a 12-digit number below N: kv:000000000042.
for i in $(seq 0 $((nkeys - 1))); do printf 'SET kv:%012d %s\n' "$i" "$value"; done \
  | admin --pipe > "$work/pipe.txt"
grep -q 'errors: 0,' "$work/pipe.txt" || { cat "$work/pipe.txt" >&2; exit 1; }

token=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
port=$(free_port)
BERTH_DATA_DIR="$work/data" BERTH_API_TOKENS="$token" BERTH_LOG_FORMAT=json RUST_LOG=info \
  "$bin" serve kv --kv-addr "127.0.0.1:$port" --kv-redis-url "$kv_url" > "$work/berth.log" 2>&1 &
pids+=($!)
base="http://127.0.0.1:$port"
# The A/B servers on the same Redis: coalescing off; the system allocator.
off_port=$(free_port)
BERTH_DATA_DIR="$work/data-off" BERTH_API_TOKENS="$token" BERTH_LOG_FORMAT=json RUST_LOG=info \
  BERTH_KV_REDIS_COALESCE=false \
  "$bin" serve kv --kv-addr "127.0.0.1:$off_port" --kv-redis-url "$kv_url" > "$work/berth-off.log" 2>&1 &
pids+=($!)
off="http://127.0.0.1:$off_port"
sys_port=$(free_port)
BERTH_DATA_DIR="$work/data-sys" BERTH_API_TOKENS="$token" BERTH_LOG_FORMAT=json RUST_LOG=info \
  "$sysbin" serve kv --kv-addr "127.0.0.1:$sys_port" --kv-redis-url "$kv_url" > "$work/berth-sys.log" 2>&1 &
pids+=($!)
sys="http://127.0.0.1:$sys_port"
for url in "$base" "$off" "$sys"; do
  wait_http "$url/healthcheck"
  [ "$(curl -fsS "$url/get/000000000000")" = "{\"000000000000\":\"$value\"}" ] \
    || { echo "berth at $url does not answer the key written to Redis" >&2; exit 1; }
done

cat > "$work/get.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  n = tonumber(args[1])
  math.randomseed(os.time() * 1000 + seed)
end
function request()
  return wrk.format("GET", string.format("/get/%012d", math.random(0, n - 1)))
end
LUA
cat > "$work/set.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  n, value = tonumber(args[1]), args[2]
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(os.time() * 1000 + seed)
end
function request()
  return wrk.format(nil, "/set", nil,
    string.format('{"id":"%012d","data":"%s"}', math.random(0, n - 1), value))
end
LUA
wrk_args=(-t2 "-c$conns" "-d$duration")
rb_args=(-c "$conns" -n "$requests" -r "$nkeys")

echo "==> GET: redis-benchmark against berth"
redis_bench_rps "$kv_url" -c "$conns" -n 50000 -r "$nkeys" GET 'kv:__rand_int__' >/dev/null
for url in "$base" "$off" "$sys"; do
  wrk_report "$work/wrk.txt" "$url" -t2 "-c$conns" -d2s -s "$work/get.lua" -- "$nkeys"
done
redis_get=(); berth_get=(); berth_livez=(); off_get=(); sys_get=()
get_rps() {
  wrk_report "$work/wrk.txt" "$1" "${wrk_args[@]}" -s "$work/get.lua" -- "$nkeys"
  report_rps "$work/wrk.txt"
}
for r in $(seq 1 "$rounds"); do
  g=$(redis_bench_rps "$kv_url" "${rb_args[@]}" GET 'kv:__rand_int__')
  b=$(get_rps "$base")
  o=$(get_rps "$off")
  wrk_report "$work/wrk.txt" "$base/livez" "${wrk_args[@]}"
  l=$(report_rps "$work/wrk.txt")
  m=$(get_rps "$sys")
  echo "    round $r: redis-benchmark GET $g req/s, berth GET /get/{id} $b req/s (coalescing off $o, system allocator $m), GET /livez $l req/s"
  redis_get+=("$g"); berth_get+=("$b"); berth_livez+=("$l"); off_get+=("$o"); sys_get+=("$m")
done
redis_get_med=$(median "${redis_get[@]}"); berth_get_med=$(median "${berth_get[@]}")
livez_med=$(median "${berth_livez[@]}")
get_ratio=$(ratio "$berth_get_med" "$redis_get_med")
livez_ratio=$(ratio "$livez_med" "$redis_get_med")
store_share=$(ratio "$berth_get_med" "$livez_med")
echo "    median: redis-benchmark $redis_get_med req/s, berth $berth_get_med req/s, ratio $get_ratio; /livez $livez_med req/s ($livez_ratio of redis-benchmark)"
off_get_med=$(median "${off_get[@]}"); sys_get_med=$(median "${sys_get[@]}")
coalesce_get_ratio=$(ratio "$berth_get_med" "$off_get_med"); alloc_get_ratio=$(ratio "$berth_get_med" "$sys_get_med")
echo "    median: GET coalescing off $off_get_med req/s (on/off $coalesce_get_ratio), system allocator $sys_get_med req/s (jemalloc/system $alloc_get_ratio)"

echo "==> GET at one connection: latency (does batching the writes to Redis cost a lone client?)"
one_redis=(); one_get=(); one_livez=(); one_off=()
for r in $(seq 1 "$rounds"); do
  one_redis+=("$(redis_bench_latency "$kv_url" -c 1 -n 30000 -r "$nkeys" GET 'kv:__rand_int__')")
  wrk_report "$work/wrk.txt" "$base" -t1 -c1 -d5s --latency -s "$work/get.lua" -- "$nkeys"
  one_get+=("$(report_ms "$work/wrk.txt" 50 3) $(report_ms "$work/wrk.txt" 99 3)")
  wrk_report "$work/wrk.txt" "$off" -t1 -c1 -d5s --latency -s "$work/get.lua" -- "$nkeys"
  one_off+=("$(report_ms "$work/wrk.txt" 50 3) $(report_ms "$work/wrk.txt" 99 3)")
  wrk_report "$work/wrk.txt" "$base/livez" -t1 -c1 -d5s --latency
  one_livez+=("$(report_ms "$work/wrk.txt" 50 3) $(report_ms "$work/wrk.txt" 99 3)")
  echo "    round $r (p50 p99, ms): redis-benchmark GET ${one_redis[-1]}, berth GET /get/{id} ${one_get[-1]} (coalescing off ${one_off[-1]}), GET /livez ${one_livez[-1]}"
done
# Medians of each percentile over the rounds: p50 (field 1) and p99 (field 2).
pct() { local field=$1; shift; median "$(printf '%s\n' "$@" | awk -v f="$field" '{print $f}')"; }
one_redis_p50=$(pct 1 "${one_redis[@]}"); one_redis_p99=$(pct 2 "${one_redis[@]}")
one_get_p50=$(pct 1 "${one_get[@]}"); one_get_p99=$(pct 2 "${one_get[@]}")
one_livez_p50=$(pct 1 "${one_livez[@]}"); one_livez_p99=$(pct 2 "${one_livez[@]}")
one_off_p50=$(pct 1 "${one_off[@]}"); one_off_p99=$(pct 2 "${one_off[@]}")

echo "==> POST /set: appendfsync always against everysec"
set_fsync() {
  [ "$(admin CONFIG SET appendfsync "$1")" = OK ] || { echo "CONFIG SET appendfsync $1 refused" >&2; exit 1; }
}
set_always=(); set_everysec=(); rset_always=(); rset_everysec=(); set_off=(); set_sys=()
set_rps() {
  wrk_report "$work/wrk.txt" "$1" "${wrk_args[@]}" -s "$work/set.lua" -- "$nkeys" "$value" "$token"
  report_rps "$work/wrk.txt"
}
for r in $(seq 1 "$rounds"); do
  for mode in always everysec; do
    set_fsync "$mode"
    b=$(set_rps "$base")
    ab=""
    if [ "$mode" = always ]; then
      # The A/B servers, with the shipped fsync only.
      o=$(set_rps "$off"); m=$(set_rps "$sys")
      set_off+=("$o"); set_sys+=("$m")
      ab=" (coalescing off $o, system allocator $m)"
    fi
    s=$(redis_bench_rps "$kv_url" "${rb_args[@]}" -d 100 SET 'kv:__rand_int__' "$value")
    echo "    round $r, appendfsync $mode: berth POST /set $b req/s$ab, redis-benchmark SET $s req/s"
    if [ "$mode" = always ]; then set_always+=("$b"); rset_always+=("$s"); else set_everysec+=("$b"); rset_everysec+=("$s"); fi
  done
done
set_fsync always
always_med=$(median "${set_always[@]}"); everysec_med=$(median "${set_everysec[@]}")
ralways_med=$(median "${rset_always[@]}"); reverysec_med=$(median "${rset_everysec[@]}")
set_ratio=$(ratio "$always_med" "$everysec_med")
rset_ratio=$(ratio "$ralways_med" "$reverysec_med")
echo "    median: berth always $always_med req/s, everysec $everysec_med req/s, ratio $set_ratio"
echo "    median: redis-benchmark SET always $ralways_med req/s, everysec $reverysec_med req/s, ratio $rset_ratio"
off_set_med=$(median "${set_off[@]}"); sys_set_med=$(median "${set_sys[@]}")
coalesce_set_ratio=$(ratio "$always_med" "$off_set_med"); alloc_set_ratio=$(ratio "$always_med" "$sys_set_med")
echo "    median: POST /set coalescing off $off_set_med req/s (on/off $coalesce_set_ratio), system allocator $sys_set_med req/s (jemalloc/system $alloc_set_ratio)"

cat > "$work/section.md" <<MD
## kv on Redis: reads against redis-benchmark, the cost of \`appendfsync always\`

Measured $(date -u +%Y-%m-%d) on: $(machine); load average $load_start at the start, $(loadavg) at the end.
Command: \`scripts/bench kv\` (Redis $(redis-server --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p') from \`scripts/testenv.sh\`: the shipped
\`deploy/redis/redis.conf\`, ACL user \`kv\`, AOF; $nkeys keys of 100 bytes, random ids;
wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}') \`${wrk_args[*]}\`, \`redis-benchmark ${rb_args[*]}\` as the user \`kv\`;
$rounds alternated rounds, medians).

| measure | figure | target |
|---|---|---|
| redis-benchmark \`GET kv:__rand_int__\` | $redis_get_med req/s | baseline |
| berth \`GET /get/{id}\` | $berth_get_med req/s | |
| berth / redis-benchmark | **$get_ratio** ($(verdict "$get_ratio >= 0.5")) | ≥ 0.50 |
| the same berth's \`GET /livez\` (no store: the HTTP ceiling), same rounds | $livez_med req/s, **$livez_ratio** of redis-benchmark | context |
| \`GET /get/{id}\` / \`GET /livez\`: what the Redis round trip leaves of the ceiling | $store_share | context |
| one connection, p50 / p99: redis-benchmark \`GET\` | $one_redis_p50 / $one_redis_p99 ms | context |
| one connection, p50 / p99: berth \`GET /get/{id}\` (wrk \`-t1 -c1 -d5s\`) | $one_get_p50 / $one_get_p99 ms | context |
| one connection, p50 / p99: berth \`GET /livez\` | $one_livez_p50 / $one_livez_p99 ms | context |
| berth \`POST /set\` (replaces), \`appendfsync always\` (shipped) | $always_med req/s | |
| berth \`POST /set\`, \`appendfsync everysec\` | $everysec_med req/s | |
| always / everysec, through berth | **$set_ratio** | recorded |
| redis-benchmark \`SET\`, always / everysec | $ralways_med / $reverysec_med req/s = $rset_ratio | context |
| **A/B** write coalescing on / off (\`--kv-redis-coalesce=false\`): \`GET /get/{id}\` | $berth_get_med / $off_get_med req/s = **$coalesce_get_ratio** | coalescing kept if ≥ 1.03 |
| **A/B** write coalescing on / off: \`POST /set\` (\`appendfsync always\`) | $always_med / $off_set_med req/s = **$coalesce_set_ratio** | coalescing kept if ≥ 1.03 |
| **A/B** write coalescing on / off: one connection, \`GET /get/{id}\` p50 / p99 | $one_get_p50 / $one_get_p99 ms against $one_off_p50 / $one_off_p99 ms | no worse alone |
| **A/B** allocator jemalloc / system (\`--no-default-features\`): \`GET /get/{id}\` | $berth_get_med / $sys_get_med req/s = **$alloc_get_ratio** | jemalloc kept if ≥ 1.03 |
| **A/B** allocator jemalloc / system: \`POST /set\` (\`appendfsync always\`) | $always_med / $sys_set_med req/s = **$alloc_set_ratio** | jemalloc kept if ≥ 1.03 |

\`appendfsync\` is switched with \`CONFIG SET\` as the ACL user \`admin\` (the shipped ACL allows
it; \`kv\` may not) and put back to \`always\` at the end.
GET rounds (redis-benchmark, berth /get, berth /livez): $(for i in "${!redis_get[@]}"; do printf '(%s, %s, %s) ' "${redis_get[$i]}" "${berth_get[$i]}" "${berth_livez[$i]}"; done)
One-connection rounds (p50 p99, ms; redis-benchmark, berth /get, berth /livez): $(for i in "${!one_redis[@]}"; do printf '(%s, %s, %s) ' "${one_redis[$i]}" "${one_get[$i]}" "${one_livez[$i]}"; done)
/set rounds (always, everysec; req/s): $(for i in "${!set_always[@]}"; do printf '(%s, %s) ' "${set_always[$i]}" "${set_everysec[$i]}"; done)
A/B rounds (req/s; coalescing off, system allocator): GET $(for i in "${!off_get[@]}"; do printf '(%s, %s) ' "${off_get[$i]}" "${sys_get[$i]}"; done); POST /set $(for i in "${!set_off[@]}"; do printf '(%s, %s) ' "${set_off[$i]}" "${set_sys[$i]}"; done)
One-connection rounds, coalescing off (p50 p99, ms): $(printf '(%s) ' "${one_off[@]}")
berth keeps one multiplexed connection to Redis, and the commands of the requests that
are ready together leave in one write (crates/kv/src/store/redis/coalesce.rs): Redis
reads them in one go and, for writes, covers them with one fsync (\`appendfsync always\`
fsyncs once per event-loop batch). wrk, redis-benchmark, berth and Redis share the same
two cores.

A/B: the berth processes of the A/B rows run beside the default one on the same Redis,
each measured in turn within the same rounds. In this run, coalescing the writes to
Redis served $(percent_vs "$berth_get_med" "$off_get_med") \`GET /get/{id}\` and $(percent_vs "$always_med" "$off_set_med") \`POST /set\` requests/s than
sending each command on its own; a lone client's p50 was $one_get_p50 ms with it and $one_off_p50 ms without.
jemalloc served $(percent_vs "$berth_get_med" "$sys_get_med") \`GET /get/{id}\` and $(percent_vs "$always_med" "$sys_set_med") \`POST /set\` requests/s than the
C library's malloc. Round by round, coalescing on beat off in $(rounds_below "${off_get[*]}" "${berth_get[*]}") rounds of \`GET\` and
$(rounds_below "${set_off[*]}" "${set_always[*]}") of \`POST /set\`; jemalloc beat malloc in $(rounds_below "${sys_get[*]}" "${berth_get[*]}") and $(rounds_below "${set_sys[*]}" "${set_always[*]}"). One berth's
requests/s moved by up to $(largest "$(spread "${berth_get[@]}")" "$(spread "${off_get[@]}")" "$(spread "${sys_get[@]}")" "$(spread "${set_always[@]}")" "$(spread "${set_off[@]}")" "$(spread "${set_sys[@]}")")% from one round to the next in this run: a
difference smaller than that says little.
MD
write_section kv "$work/section.md"
echo "==> wrote docs/benchmarks.md (section kv)"
