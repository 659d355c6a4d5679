#!/usr/bin/env bash
# rates on PostgreSQL (a throwaway one from scripts/testenv.sh):
#  - `berth rates load` of the real dump (RATES_SQL, else ../shared/data/rates.sql)
#    against `psql -f` of the same file, each into a fresh database, rounds alternated;
#  - ingest of 100,000 rows (the real dump's prices, cycled) through `POST /prices` as
#    CSV against `psql \copy` of the same CSV, each into a fresh copy of the loaded real
#    dump (`CREATE DATABASE ... TEMPLATE`); the same rows as JSON for context;
#  - requests/s of `GET /rates` for the busiest port pair over 31 days of the real dump
#    (wrk) against pgbench running the statement berth sends (PG_RATES_SQL of
#    crates/rates/src/store/mod.rs, read from the source; prepared, the same parameters)
#    with as many connections, rounds alternated so that noise hits both alike;
#  - p99 latency of `GET /rates` over 31 days for the busiest port pair and for a region
#    pair on a generated dataset (`berth rates generate --prices N --seed 1`, loaded with
#    `berth rates load`), with pgbench's p99 for the same statement as context.
# Knobs: BENCH_CONNECTIONS (8), BENCH_DURATION (10s), BENCH_ROUNDS (3),
# BENCH_LOAD_ROUNDS (5), BENCH_RATES_PRICES (10000000: size of the generated dataset),
# BENCH_RATES_REGIONS ("china_main north_europe_main": origin and destination slugs).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench.d/lib.sh
source scripts/bench.d/lib.sh

conns=${BENCH_CONNECTIONS:-8}
duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-3}
load_rounds=${BENCH_LOAD_ROUNDS:-5}
big=${BENCH_RATES_PRICES:-10000000}
read -r region_orig region_dest <<< "${BENCH_RATES_REGIONS:-china_main north_europe_main}"
dump=${RATES_SQL:-../shared/data/rates.sql}
ingest_rows=100000
seconds=${duration%s}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "BENCH_DURATION must be whole seconds (10s), not $duration" >&2; exit 2; }
[ -f "$dump" ] || { echo "no dump at $dump (set RATES_SQL)" >&2; exit 2; }
dump=$(realpath "$dump")

ensure_cmds wrk:wrk
ensure_cmds curl:curl
ensure_cmd pgbench postgresql-client-15  # pgbench and psql
echo "==> building the release binary"
cargo build --release -q -p berth -j2
bin=$(release_dir)/berth
load_avg=$(cut -d' ' -f1-3 /proc/loadavg)

work=$(mktemp -d)
chmod 711 "$work"  # the postgres user reaches its directories below $work/env
server=""
stop_server() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  server=""
}
cleanup() {
  stop_server
  scripts/testenv.sh down "$work/env" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> starting PostgreSQL (scripts/testenv.sh)"
testenv_up "$work/env"
pg_version=$(psql -X -qAt "$BERTH_TEST_PG_URL" -c 'SHOW server_version')
export BERTH_DATA_DIR=$work/data BERTH_LOG_FORMAT=json RUST_LOG=info
token=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export BERTH_API_TOKENS=$token
(umask 077; printf 'Authorization: Bearer %s\n' "$token" > "$work/auth")

# The URL of database DB on the test server.
db_url() { echo "${BERTH_TEST_PG_URL%/*}/$1"; }
# psql on database DB: sql DB [psql args...]
sql() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 "$(db_url "$db")" "$@"; }
# Creates database NAME, a copy of TEMPLATE when given.
new_db() { sql postgres -c "CREATE DATABASE $1${2:+ TEMPLATE $2}"; }
# The number of prices in database DB.
prices_in() { sql "$1" -At -c 'SELECT count(*) FROM prices'; }
# Wall-clock seconds a command takes; its output goes to $work/commands.log.
seconds_of() {
  local t0 t1
  t0=$(date +%s%N)
  if ! "$@" >> "$work/commands.log" 2>&1; then
    tail -n 20 "$work/commands.log" >&2
    echo "failed: $*" >&2
    return 1
  fi
  t1=$(date +%s%N)
  python3 -c "print(f'{($t1 - $t0) / 1e9:.3f}')"
}
# Starts `berth serve rates` on a free port against database DB (sets port, server),
# with CACHE MiB of answers cache (default: berth's default; 0: off).
start_server() {
  port=$(free_port)
  BERTH_RATES_CACHE_MIB=${2:-32} BERTH_RATES_DATABASE_URL=$(db_url "$1") \
    "$bin" serve rates --rates-addr "127.0.0.1:$port" \
    >> "$work/berth.log" 2>&1 &
  server=$!
  wait_http "http://127.0.0.1:$port/healthcheck"
}
# N with thousands separators.
thousands() { python3 -c "print(f'{$1:,}')"; }

# The statement behind GET /rates, as berth sends it ($1 origin, $2 destination, $3/$4
# first and last day), and a pgbench script running it. pgbench's \set takes numbers
# only, so the four string parameters come from -D; -M prepared binds them as
# parameters of a prepared statement, as sqlx does.
rates_sql=$(python3 - crates/rates/src/store/mod.rs <<'PY'
import re, sys
src = open(sys.argv[1]).read()
# PG_RATES_SQL = concat!(region_ctes!(), "..."): the macro's string, then its own.
ctes = re.search(r'macro_rules! region_ctes \{.*?"(.*?)"\s*\};', src, re.S)
own = re.search(r'pub const PG_RATES_SQL: &str = concat!\(\s*region_ctes!\(\),\s*"(.*?)"\s*\);', src, re.S)
if not (ctes and own):
    sys.exit(f"PG_RATES_SQL not found in {sys.argv[1]}")
text = ctes.group(1) + own.group(1)
print(re.sub(r'\\\n', '', text).replace('\\"', '"'))
PY
)
script=${rates_sql//\$1/:orig}; script=${script//\$2/:dest}
script=${script//\$3/:day_from}; script=${script//\$4/:day_to}
printf -- '-- GET /rates: PG_RATES_SQL of crates/rates/src/store/mod.rs (variables from pgbench -D)\n%s;\n' \
  "$script" > "$work/rates.pgbench"

# The 31 days from the first day of database DB (sets day_from, day_to).
pick_days() {
  local days
  days=$(sql "$1" -At -F' ' -c 'SELECT min(day), min(day) + 30 FROM prices')
  read -r day_from day_to <<< "$days"
}
# The port pair with the most prices over day_from..day_to in database DB.
busiest_lane() {
  sql "$1" -At -F' ' -c "SELECT orig_code, dest_code FROM prices
    WHERE day BETWEEN '$day_from' AND '$day_to' GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1"
}
# Prices the statement counts for DB ORIG DEST over the days (run by psql, prepared).
sql_count() {
  [[ $2$3 =~ ^[A-Za-z0-9_]+$ ]] || { echo "bad code $2 or $3" >&2; return 1; }
  sql "$1" -At -F' ' <<SQL | awk '{n += $2} END {print n + 0}'
PREPARE rates_q(text, text, date, date) AS $rates_sql;
EXECUTE rates_q('$2', '$3', '$day_from', '$day_to');
SQL
}
# How PostgreSQL reads prices for DB ORIG DEST (the scan nodes of EXPLAIN, JIT if used).
plan_of() {
  local plan
  plan=$(sql "$1" -At <<SQL
PREPARE rates_q(text, text, date, date) AS $rates_sql;
EXPLAIN EXECUTE rates_q('$2', '$3', '$day_from', '$day_to');
SQL
  )
  grep -oE '(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan)( using [a-z_]+)? on prices|^ *JIT' <<< "$plan" \
    | sed 's/^ *//' | sort -u | paste -sd ',' | sed 's/,/, /g' || true
}
# The URL of GET /rates for ORIG DEST over the days.
rates_url() {
  echo "http://127.0.0.1:$port/rates?date_from=$day_from&date_to=$day_to&orig_code=$1&dest_code=$2"
}
# Checks that GET /rates answers one entry per day and counts what psql counts:
# check_rates DB ORIG DEST; prints that count.
check_rates() {
  local want got
  want=$(sql_count "$@")
  got=$(curl -fsS "$(rates_url "$2" "$3")" \
    | python3 -c 'import json, sys; r = json.load(sys.stdin)["rates"]; print(len(r), sum(x["count"] for x in r))')
  if [ "$got" != "31 $want" ]; then
    echo "GET /rates $2 -> $3 answers (days, prices) = ($got), psql counts $want prices" >&2
    return 1
  fi
  if [ "$want" -eq 0 ]; then
    echo "no prices for $2 -> $3 over $day_from..$day_to: pick another pair" >&2
    return 1
  fi
  echo "$want"
}
# pgbench running the statement on DB for ORIG DEST: prints "tps p99_ms".
pgbench_rates() {
  local logs
  logs=$(mktemp -d -p "$work")
  if ! (cd "$logs" && pgbench -n -M prepared -c "$conns" -j 2 -T "$seconds" -l \
    -D orig="$2" -D dest="$3" -D day_from="$day_from" -D day_to="$day_to" \
    -f "$work/rates.pgbench" "$(db_url "$1")") > "$logs/out" 2>&1 \
    || ! grep -q 'number of failed transactions: 0 ' "$logs/out"; then
    cat "$logs/out" >&2
    return 1
  fi
  python3 - "$logs" <<'PY'
import glob, math, re, sys
d = sys.argv[1]
tps = re.search(r"^tps = ([0-9.]+)", open(f"{d}/out").read(), re.M).group(1)
# -l: one line per transaction, its latency in microseconds third
lat = sorted(int(l.split()[2]) for f in glob.glob(f"{d}/pgbench_log.*") for l in open(f))
print(f"{float(tps):.1f}", f"{lat[math.ceil(0.99 * len(lat)) - 1] / 1000:.2f}")
PY
  rm -rf "$logs"
}
wrk_args=(-t2 "-c$conns" "-d$duration" --latency --timeout 60s)

echo "==> loading the real dump ($dump): psql -f against berth rates load, $load_rounds rounds"
# Context: psql -f leaves no lane index and no statistics; "psql -f, then the same
# CREATE INDEX and ANALYZE as berth" is the same end state by hand.
finish_by_hand() {
  psql -X -q -v ON_ERROR_STOP=1 -f "$dump" "$1" &&
    psql -X -q -v ON_ERROR_STOP=1 "$1" \
      -c 'CREATE INDEX prices_lane_day_idx ON prices (orig_code, dest_code, day)' \
      -c 'ANALYZE regions, ports, prices (orig_code, dest_code, day)'
}
psql_load=(); berth_load=(); hand_load=()
for r in $(seq 1 "$load_rounds"); do
  new_db "load_psql_$r"; new_db "load_berth_$r"; new_db "load_hand_$r"
  order=(psql berth hand)
  if [ $((r % 2)) -eq 0 ]; then order=(hand berth psql); fi
  for tool in "${order[@]}"; do
    case $tool in
      psql) p=$(seconds_of psql -X -q -v ON_ERROR_STOP=1 -f "$dump" "$(db_url "load_psql_$r")") ;;
      hand) h=$(seconds_of finish_by_hand "$(db_url "load_hand_$r")") ;;
      berth) b=$(BERTH_RATES_DATABASE_URL=$(db_url "load_berth_$r") seconds_of "$bin" rates load "$dump") ;;
    esac
  done
  echo "    round $r: psql -f $p s, berth rates load $b s, psql -f + index + analyze $h s"
  psql_load+=("$p"); berth_load+=("$b"); hand_load+=("$h")
done
real_prices=$(prices_in load_berth_1)
[ "$real_prices" = "$(prices_in load_psql_1)" ] || { echo "psql and berth loaded different prices" >&2; exit 1; }
psql_load_med=$(median "${psql_load[@]}"); berth_load_med=$(median "${berth_load[@]}")
hand_load_med=$(median "${hand_load[@]}")
load_ratio=$(ratio "$berth_load_med" "$psql_load_med")
hand_ratio=$(ratio "$berth_load_med" "$hand_load_med")
echo "    median: psql -f $psql_load_med s, berth rates load $berth_load_med s, ratio $load_ratio;" \
  "psql -f + index + analyze $hand_load_med s, ratio $hand_ratio ($real_prices prices)"
real=load_berth_1

echo "==> ingest of $ingest_rows rows: psql \\copy against POST /prices, $rounds rounds"
python3 - "$dump" "$ingest_rows" "$work/ingest.csv" "$work/ingest.json" <<'PY'
import json, sys
dump, n, csv_path, json_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows, inside = [], False
for line in open(dump):
    if line.startswith("COPY public.prices "):
        inside = True
    elif inside and line.startswith("\\."):
        break
    elif inside:
        rows.append(line.rstrip("\n").split("\t"))
rows = [rows[i % len(rows)] for i in range(n)]
with open(csv_path, "w") as f:
    f.writelines(f"{o},{d},{day},{p}\n" for o, d, day, p in rows)
with open(json_path, "w") as f:
    json.dump([{"orig_code": o, "dest_code": d, "day": day, "price": int(p)} for o, d, day, p in rows], f)
PY
post_prices() { # media type, file
  curl -sS --fail-with-body -o "$work/post.json" -H @"$work/auth" -H "Content-Type: $1" \
    --data-binary @"$2" "http://127.0.0.1:$port/prices"
  grep -q "\"inserted\":$ingest_rows" "$work/post.json"
}
copy_s=(); csv_s=(); json_s=()
for r in $(seq 1 "$rounds"); do
  new_db "ingest_copy_$r" "$real"; new_db "ingest_csv_$r" "$real"; new_db "ingest_json_$r" "$real"
  c=$(seconds_of sql "ingest_copy_$r" \
    -c "\\copy prices (orig_code, dest_code, day, price) FROM '$work/ingest.csv' WITH (FORMAT csv)")
  start_server "ingest_csv_$r"
  h=$(seconds_of post_prices text/csv "$work/ingest.csv")
  stop_server
  start_server "ingest_json_$r"
  j=$(seconds_of post_prices application/json "$work/ingest.json")
  stop_server
  for db in "ingest_copy_$r" "ingest_csv_$r" "ingest_json_$r"; do
    n=$(prices_in "$db")
    [ "$n" -eq $((real_prices + ingest_rows)) ] || { echo "$db holds $n prices" >&2; exit 1; }
    sql postgres -c "DROP DATABASE $db"
  done
  echo "    round $r: psql \\copy $c s, POST /prices CSV $h s, JSON $j s"
  copy_s+=("$c"); csv_s+=("$h"); json_s+=("$j")
done
copy_med=$(median "${copy_s[@]}"); csv_med=$(median "${csv_s[@]}"); json_med=$(median "${json_s[@]}")
csv_ratio=$(ratio "$csv_med" "$copy_med"); json_ratio=$(ratio "$json_med" "$copy_med")
echo "    median: psql \\copy $copy_med s, POST CSV $csv_med s (ratio $csv_ratio), JSON $json_med s (ratio $json_ratio)"

echo "==> GET /rates on the real dump: pgbench against berth, $rounds rounds"
pick_days "$real"
real_days="$day_from..$day_to"
lane=$(busiest_lane "$real"); read -r real_orig real_dest <<< "$lane"
start_server "$real" 0
real_lane_prices=$(check_rates "$real" "$real_orig" "$real_dest")
stop_server
echo "    $real_orig -> $real_dest, $real_days: $real_lane_prices prices"
# Rounds against a server with answers cache CACHE (berth's default, then 0: every
# request runs the statement): fills pg_tps and berth_rps.
real_rounds() {
  start_server "$real" "$1"
  real_url=$(rates_url "$real_orig" "$real_dest")
  echo "==> warm-up (answers cache: $1 MiB)"
  pgbench_rates "$real" "$real_orig" "$real_dest" >/dev/null
  wrk_report "$work/wrk.txt" "$real_url" -t2 "-c$conns" -d2s
  pg_tps=(); berth_rps=()
  for r in $(seq 1 "$rounds"); do
    out=$(pgbench_rates "$real" "$real_orig" "$real_dest"); read -r p _ <<< "$out"
    wrk_report "$work/wrk.txt" "$real_url" "${wrk_args[@]}"
    b=$(report_rps "$work/wrk.txt")
    echo "    round $r: pgbench $p tps, berth $b req/s"
    pg_tps+=("$p"); berth_rps+=("$b")
  done
  stop_server
}
real_rounds 32
pg_med=$(median "${pg_tps[@]}"); berth_med=$(median "${berth_rps[@]}")
rps_ratio=$(ratio "$berth_med" "$pg_med")
cached_rounds=$(for i in "${!pg_tps[@]}"; do printf '(%s, %s) ' "${pg_tps[$i]}" "${berth_rps[$i]}"; done)
echo "    median, cached: pgbench $pg_med tps, berth $berth_med req/s, ratio $rps_ratio"
real_rounds 0
nc_pg_med=$(median "${pg_tps[@]}"); nc_berth_med=$(median "${berth_rps[@]}")
nc_ratio=$(ratio "$nc_berth_med" "$nc_pg_med")
uncached_rounds=$(for i in "${!pg_tps[@]}"; do printf '(%s, %s) ' "${pg_tps[$i]}" "${berth_rps[$i]}"; done)
real_plan=$(plan_of "$real" "$real_orig" "$real_dest")
echo "    median, no cache: pgbench $nc_pg_med tps, berth $nc_berth_med req/s, ratio $nc_ratio (plan: $real_plan)"

echo "==> generating $big prices and loading them with berth rates load"
generate_big() { "$bin" rates generate --prices "$big" --seed 1 > "$work/big.sql"; }
gen_s=$(seconds_of generate_big)
big_bytes=$(stat -c %s "$work/big.sql")
new_db big
big_load_s=$(BERTH_RATES_DATABASE_URL=$(db_url big) seconds_of "$bin" rates load "$work/big.sql")
rm -f "$work/big.sql"
big_prices=$(prices_in big)
[ "$big_prices" -eq "$big" ] || { echo "loaded $big_prices prices, not $big" >&2; exit 1; }
echo "    generate $gen_s s ($((big_bytes / 1000000)) MB), load $big_load_s s"

echo "==> GET /rates p99 on $big prices, $rounds rounds"
pick_days big
big_days="$day_from..$day_to"
lane=$(busiest_lane big); read -r big_orig big_dest <<< "$lane"
# The statement's own latency: no answers cache (it would answer every request but
# the first from memory).
start_server big 0
port_prices=$(check_rates big "$big_orig" "$big_dest")
region_prices=$(check_rates big "$region_orig" "$region_dest")
port_url=$(rates_url "$big_orig" "$big_dest"); region_url=$(rates_url "$region_orig" "$region_dest")
echo "    ports $big_orig -> $big_dest: $port_prices prices; regions $region_orig -> $region_dest: $region_prices prices ($big_days)"
echo "==> warm-up"
wrk_report "$work/wrk.txt" "$port_url" -t2 "-c$conns" -d2s --timeout 60s
wrk_report "$work/wrk.txt" "$region_url" -t2 "-c$conns" -d2s --timeout 60s
port_p99=(); port_rps=(); region_p99=(); region_rps=(); pg_port_p99=(); pg_region_p99=()
for r in $(seq 1 "$rounds"); do
  wrk_report "$work/wrk.txt" "$port_url" "${wrk_args[@]}"
  port_p99+=("$(report_ms "$work/wrk.txt" 99)"); port_rps+=("$(report_rps "$work/wrk.txt")")
  wrk_report "$work/wrk.txt" "$region_url" "${wrk_args[@]}"
  region_p99+=("$(report_ms "$work/wrk.txt" 99)"); region_rps+=("$(report_rps "$work/wrk.txt")")
  out=$(pgbench_rates big "$big_orig" "$big_dest"); read -r _ p <<< "$out"; pg_port_p99+=("$p")
  out=$(pgbench_rates big "$region_orig" "$region_dest"); read -r _ p <<< "$out"; pg_region_p99+=("$p")
  echo "    round $r: ports p99 ${port_p99[-1]} ms (${port_rps[-1]} req/s; pgbench p99 ${pg_port_p99[-1]} ms)," \
    "regions p99 ${region_p99[-1]} ms (${region_rps[-1]} req/s; pgbench p99 ${pg_region_p99[-1]} ms)"
done
stop_server
port_p99_med=$(median "${port_p99[@]}"); region_p99_med=$(median "${region_p99[@]}")
port_rps_med=$(median "${port_rps[@]}"); region_rps_med=$(median "${region_rps[@]}")
pg_port_med=$(median "${pg_port_p99[@]}"); pg_region_med=$(median "${pg_region_p99[@]}")
port_plan=$(plan_of big "$big_orig" "$big_dest"); region_plan=$(plan_of big "$region_orig" "$region_dest")
echo "    median: ports p99 $port_p99_med ms (pgbench $pg_port_med ms; plan: $port_plan)," \
  "regions p99 $region_p99_med ms (pgbench $pg_region_med ms; plan: $region_plan)"

load_avg_end=$(cut -d' ' -f1-3 /proc/loadavg)
cat > "$work/section.md" <<MD
## rates on PostgreSQL: queries, ingest, load

Measured $(date -u +%Y-%m-%d) on: $(machine); load average $load_avg at the start,
$load_avg_end at the end.
Command: \`scripts/bench rates\` (PostgreSQL $pg_version from \`scripts/testenv.sh\`:
\`shared_buffers = 256MB\`, the rest default; wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}')
\`${wrk_args[*]}\`; \`pgbench -n -M prepared -c $conns -j 2 -T $seconds\` running the statement
berth sends (\`PG_RATES_SQL\` of crates/rates/src/store/mod.rs; origin, destination and days
given with \`-D\`, since pgbench's \`\\set\` takes numbers only); $rounds rounds ($load_rounds for
loads), alternated, medians). \`berth serve rates\` runs with its defaults (pool of 16,
answers cache of 32 MiB, JSON access line per request) except where the cache is said
to be off (\`BERTH_RATES_CACHE_MIB=0\`).

| measure | figure | target |
|---|---|---|
| real dump ($(thousands "$real_prices") prices), \`GET /rates\` $real_orig → $real_dest, $real_days ($real_lane_prices prices): pgbench, same statement, $conns connections | $pg_med tps | baseline |
| same through \`berth serve rates\` (wrk, $conns connections; answers cache on, the default: every request but the first is a hit) | $berth_med req/s | |
| berth / pgbench | **$rps_ratio** ($(verdict "$rps_ratio >= 0.7")) | ≥ 0.70 |
| same with the cache off: every request runs the statement (pgbench $nc_pg_med tps in these rounds) | $nc_berth_med req/s, **$nc_ratio** of pgbench ($(verdict "$nc_ratio >= 0.7")) | context |
| generated dataset: \`berth rates generate --prices $big --seed 1\` / \`berth rates load\` | $gen_s s ($((big_bytes / 1000000)) MB) / $big_load_s s | |
| $(thousands "$big") prices, cache off, ports $big_orig → $big_dest, $big_days ($port_prices prices), $conns connections | p99 **$port_p99_med ms** ($(verdict "$port_p99_med <= 20")), $port_rps_med req/s; pgbench p99 $pg_port_med ms | p99 ≤ 20 ms |
| $(thousands "$big") prices, cache off, regions $region_orig → $region_dest, $big_days ($region_prices prices), $conns connections | p99 **$region_p99_med ms** ($(verdict "$region_p99_med <= 100")), $region_rps_med req/s; pgbench p99 $pg_region_med ms | p99 ≤ 100 ms |
| ingest $(thousands "$ingest_rows") rows (the real dump's prices, cycled) into a copy of the real dump: \`psql \\copy\` (CSV) | $copy_med s | baseline |
| same through \`POST /prices\`, \`text/csv\` | $csv_med s, **$csv_ratio×** ($(verdict "$csv_ratio <= 1.5")) | ≤ 1.5× |
| same through \`POST /prices\`, \`application/json\` | $json_med s, $json_ratio× | context |
| load the real dump into a fresh database: \`psql -f\` | $psql_load_med s | baseline |
| same with \`berth rates load\` (one transaction; prices in lane order, builds the index, checks the keys, analyzes) | $berth_load_med s, **$load_ratio×** ($(verdict "$load_ratio <= 2")) | ≤ 2× |
| \`psql -f\`, then the same \`CREATE INDEX\` and \`ANALYZE\` (the state berth leaves, by hand) | $hand_load_med s: berth takes **$hand_ratio×** of it | context |

Plans (\`EXPLAIN\` of the statement's first execution): real dump: $real_plan;
$(thousands "$big") prices, ports: $port_plan; regions: $region_plan.
Rounds, real dump (pgbench tps, berth req/s): cached $cached_rounds; cache off $uncached_rounds
Rounds, $(thousands "$big") prices (p99 ms: ports, pgbench ports, regions, pgbench regions): $(for i in "${!port_p99[@]}"; do printf '(%s, %s, %s, %s) ' "${port_p99[$i]}" "${pg_port_p99[$i]}" "${region_p99[$i]}" "${pg_region_p99[$i]}"; done)
Rounds, ingest (s: \\copy, CSV, JSON): $(for i in "${!copy_s[@]}"; do printf '(%s, %s, %s) ' "${copy_s[$i]}" "${csv_s[$i]}" "${json_s[$i]}"; done)
Rounds, load (s: psql -f, berth, psql -f + index + analyze): $(for i in "${!psql_load[@]}"; do printf '(%s, %s, %s) ' "${psql_load[$i]}" "${berth_load[$i]}" "${hand_load[$i]}"; done)
Times are wall clock of the whole command (process start included). wrk, pgbench, berth
and PostgreSQL share the same two cores.
MD
write_section rates "$work/section.md"
echo "==> wrote docs/benchmarks.md (section rates)"
