#!/usr/bin/env bash
# multivac on Redis Streams + PostgreSQL (throwaway ones from scripts/testenv.sh: the
# shipped redis.conf with `appendfsync always`, ACL user `multivac`):
#  - requests/s of `POST /multivac/data` (form body, bearer token; the API runs with
#    `--multivac-worker=never`, so no worker competes) against redis-benchmark's
#    `XADD multivac:bench * data <datum>` as the same ACL user, same connections, rounds
#    alternated so that noise hits both alike;
#  - drain rate of one worker (`berth worker multivac`, concurrency 1, default batch):
#    BENCH_ITEMS entries are queued first with `XADD multivac:queue * data <datum>`
#    (the entry the API writes, crates/multivac/src/queue/redis.rs), then the worker is
#    started and `/multivac/stats` polled until every item is processed into PostgreSQL.
# Knobs: BENCH_CONNECTIONS (32), BENCH_DURATION (10s), BENCH_ROUNDS (3),
# BENCH_REDIS_REQUESTS (requests per redis-benchmark run, 200000), BENCH_ITEMS (100000).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench.d/lib.sh
source scripts/bench.d/lib.sh

conns=${BENCH_CONNECTIONS:-32}
duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-3}
requests=${BENCH_REDIS_REQUESTS:-200000}
items=${BENCH_ITEMS:-100000}
datum="the last question"

ensure_cmds wrk:wrk
ensure_cmds curl:curl
ensure_cmds redis-benchmark:redis-tools
echo "==> building the release binary"
cargo build --release -q -p berth -j2
bin=$(release_dir)/berth

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

echo "==> starting PostgreSQL and Redis (scripts/testenv.sh)"
testenv_up "$work/env"
redis_url=$BERTH_TEST_REDIS_MULTIVAC_URL
pg_url=$BERTH_TEST_PG_URL
admin() { redis-cli --no-auth-warning -u "$BERTH_TEST_REDIS_ADMIN_URL" "$@"; }
[ "$(admin CONFIG GET appendfsync | tail -1)" = always ] || { echo "expected appendfsync always" >&2; exit 1; }

token=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
port=$(free_port)
BERTH_DATA_DIR="$work/data" BERTH_API_TOKENS="$token" BERTH_LOG_FORMAT=json RUST_LOG=info \
  "$bin" serve multivac --multivac-addr "127.0.0.1:$port" --multivac-worker=never \
  --multivac-redis-url "$redis_url" --multivac-database-url "$pg_url" > "$work/berth.log" 2>&1 &
pids+=($!)
base="http://127.0.0.1:$port"
wait_http "$base/healthcheck"
stats() { curl -fsS "$base/multivac/stats"; }

cat > "$work/post.lua" <<'LUA'
function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "data=" .. args[2]:gsub(" ", "+")
end
LUA
wrk_args=(-t2 "-c$conns" "-d$duration")
rb_args=(-c "$conns" -n "$requests")

echo "==> POST /multivac/data: redis-benchmark XADD against berth"
redis_bench_rps "$redis_url" -c "$conns" -n 20000 XADD multivac:bench '*' data "$datum" >/dev/null
wrk_report "$work/wrk.txt" "$base/multivac/data" -t2 "-c$conns" -d2s -s "$work/post.lua" -- "$token" "$datum"
redis_xadd=(); berth_post=()
for r in $(seq 1 "$rounds"); do
  x=$(redis_bench_rps "$redis_url" "${rb_args[@]}" XADD multivac:bench '*' data "$datum")
  wrk_report "$work/wrk.txt" "$base/multivac/data" "${wrk_args[@]}" -s "$work/post.lua" -- "$token" "$datum"
  b=$(report_rps "$work/wrk.txt")
  echo "    round $r: redis-benchmark XADD $x req/s, berth POST /multivac/data $b req/s"
  redis_xadd+=("$x"); berth_post+=("$b")
done
xadd_med=$(median "${redis_xadd[@]}"); post_med=$(median "${berth_post[@]}")
post_ratio=$(ratio "$post_med" "$xadd_med")
echo "    median: redis-benchmark $xadd_med req/s, berth $post_med req/s, ratio $post_ratio"
queued=$(stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["queued"])')
echo "    $queued items queued through the API"

echo "==> draining $items items with one worker"
# A fresh queue: drop what the API queued, then queue the items as the API writes them.
admin DEL multivac:queue multivac:bench > /dev/null
[ "$(admin XGROUP CREATE multivac:queue workers 0 MKSTREAM)" = OK ] || { echo "XGROUP CREATE failed" >&2; exit 1; }
for i in $(seq 1 "$items"); do printf 'XADD multivac:queue * data "%s %d"\n' "$datum" "$i"; done \
  | admin --pipe > "$work/pipe.txt"
grep -q 'errors: 0,' "$work/pipe.txt" || { cat "$work/pipe.txt" >&2; exit 1; }
[ "$(stats)" = "{\"queued\":$items,\"in_progress\":0,\"processed\":0,\"failed\":0}" ] \
  || { echo "unexpected stats before the drain: $(stats)" >&2; exit 1; }
worker_port=$(free_port)
drain=$(python3 - "$bin" "$base/multivac/stats" "$items" "$worker_port" "$redis_url" "$pg_url" "$work/worker.log" <<'PY'
import json, os, subprocess, sys, time, urllib.request
binary, stats_url, items, worker_port, redis_url, pg_url, log = sys.argv[1:]
items = int(items)
def stats():
    with urllib.request.urlopen(stats_url, timeout=5) as r:
        return json.load(r)
env = dict(os.environ, BERTH_LOG_FORMAT="json", RUST_LOG="info")
t0 = time.perf_counter()
worker = subprocess.Popen(
    [binary, "worker", "multivac", "--worker-addr", f"127.0.0.1:{worker_port}",
     "--multivac-redis-url", redis_url, "--multivac-database-url", pg_url,
     "--multivac-worker-concurrency", "1"],
    stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
first = None
try:
    while True:
        s = stats()
        now = time.perf_counter() - t0
        if first is None and s["processed"] > 0:
            first = (now, s["processed"])
        if s["processed"] + s["failed"] >= items and s["queued"] == 0 and s["in_progress"] == 0:
            break
        if worker.poll() is not None:
            sys.exit(f"the worker exited ({worker.returncode}): see its log")
        if now > 600:
            sys.exit(f"not drained after 600 s: {s}")
        time.sleep(0.05)
finally:
    worker.terminate()
    worker.wait()
total = now
steady = (s["processed"] - first[1]) / (total - first[0]) if total > first[0] else float("nan")
print(f"{total:.2f} {items / total:.0f} {first[0]:.2f} {steady:.0f} {s['processed']} {s['failed']}")
PY
)
read -r drain_s drain_rate first_s steady_rate processed failed <<< "$drain"
echo "    $processed processed, $failed failed in $drain_s s from the worker's exec: $drain_rate items/s (first item stored after $first_s s; $steady_rate items/s from then on)"
if [ "$processed" -ne "$items" ] || [ "$failed" -ne 0 ]; then
  echo "expected $items processed, none failed" >&2
  exit 1
fi
oldest=$(curl -fsS "$base/multivac")
[ "$oldest" = "$datum 1" ] || { echo "GET /multivac answers \"$oldest\", not the first datum" >&2; exit 1; }

cat > "$work/section.md" <<MD
## multivac on Redis Streams + PostgreSQL: queueing and draining

Measured $(date -u +%Y-%m-%d) on: $(machine).
Command: \`scripts/bench multivac\` (Redis $(redis-server --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p') with the shipped \`deploy/redis/redis.conf\`,
\`appendfsync always\`, ACL user \`multivac\`, and PostgreSQL $(psql -qAt "$pg_url" -c 'SHOW server_version' | awk '{print $1}'), both from
\`scripts/testenv.sh\`; API with \`--multivac-worker=never\`; wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}') \`${wrk_args[*]}\`,
\`redis-benchmark ${rb_args[*]}\` as the user \`multivac\`; $rounds alternated rounds, medians).

| measure | figure | target |
|---|---|---|
| redis-benchmark \`XADD multivac:bench * data "$datum"\` | $xadd_med req/s | baseline |
| berth \`POST /multivac/data\` (form \`data=$datum\`, bearer token) | $post_med req/s | |
| berth / redis-benchmark | **$post_ratio** ($(verdict "$post_ratio >= 0.5")) | ≥ 0.50 |
| one worker (\`berth worker multivac\`, concurrency 1, batch 256) draining $items queued items into PostgreSQL, from its exec to the last one stored | $drain_s s: **$drain_rate items/s** ($(verdict "$drain_rate >= 5000")) | ≥ 5000 items/s |
| the same, from the first item stored (startup and migrations left out) | $steady_rate items/s | context |

Rounds (redis-benchmark, berth; req/s): $(for i in "${!redis_xadd[@]}"; do printf '(%s, %s) ' "${redis_xadd[$i]}" "${berth_post[$i]}"; done)
The drain is timed by polling \`GET /multivac/stats\` every 50 ms; afterwards all $items
are processed, none failed, and \`GET /multivac\` answers the first datum queued.
With \`appendfsync always\` each XADD is acknowledged after its fsync; concurrent ones in
one event-loop batch share it. wrk, redis-benchmark, berth, Redis and PostgreSQL share
the same two cores.
MD
write_section multivac "$work/section.md"
echo "==> wrote docs/benchmarks.md (section multivac)"
