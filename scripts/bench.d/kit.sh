#!/usr/bin/env bash
# The kit's cost and berth's footprint, on the clock service:
#  - requests/s of `GET /clock` through the full kit (request id, trace log line,
#    metrics, problem mapping, panic catcher, timeout, body limit) against a bare axum
#    handler returning the same JSON (crates/berth/examples/bare_clock.rs), same wrk
#    settings, rounds alternated so that noise hits both alike;
#  - the same comparison with the load generator kept off the server's core (servers
#    on CPU 1, wrk on CPU 0, `taskset`): on two shared cores every microsecond the
#    server spends is also taken from wrk and adds preemptions and wake-up IPIs, so
#    the shared figure prices the kit above its own CPU cost; pinned, it is closer
#    to it;
#  - time from exec of `berth serve clock` to its first 200 on /healthcheck;
#  - resident memory of `berth serve clock` once idle;
#  - A/B rows for the kit's hand-written parts, each against what it replaces, in the
#    same alternated rounds (requests/s and the server's CPU per request):
#    the kit's `Observe` layer against tower-http's request-id/trace/catch-panic/
#    timeout/body-limit layers, and the kit's JSON log layer against
#    tracing-subscriber's `json` formatter (crates/berth/examples/ab_clock.rs, one
#    process per way, logs to /dev/null); berth with jemalloc (the default) against
#    berth built `--no-default-features` (the C library's malloc); and, for the same
#    ways, the instructions per request that callgrind counts (`callgrind_control`
#    zeroes the counters after a warm-up and dumps them after a fixed wrk run: every
#    thread, the load generator excluded), a figure that other tenants of the machine
#    do not move.
# Knobs: BENCH_CONNECTIONS (32), BENCH_DURATION (10s), BENCH_ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench.d/lib.sh

load_start=$(loadavg)
conns=${BENCH_CONNECTIONS:-32}
duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-3}

ensure_cmds wrk:wrk
ensure_cmds curl:curl
ensure_cmds valgrind:valgrind callgrind_control:valgrind
echo "==> building release binaries (berth with the system allocator first)"
# berth apart from the examples: built with them, it would get the features their
# dev-dependencies turn on (tracing-subscriber's json), which the shipped binary has not.
bin=$(variant_berth default)
sysbin=$(variant_berth system --no-default-features)
cargo build --release -q -j2 -p berth --example bare_clock --example ab_clock
bare=$(release_dir)/examples/bare_clock
ab=$(release_dir)/examples/ab_clock

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

kit_port=$(free_port); bare_port=$(free_port); quiet_port=$(free_port)
BERTH_LOG_FORMAT=json RUST_LOG=info "$bin" serve clock --clock-addr "127.0.0.1:$kit_port" > "$work/berth.log" 2>&1 &
pids+=($!); kit_pid=$!
# The same, with the per-request access line switched off (every other layer stays).
BERTH_LOG_FORMAT=json RUST_LOG=info,berth::access=off "$bin" serve clock --clock-addr "127.0.0.1:$quiet_port" > "$work/quiet.log" 2>&1 &
pids+=($!)
"$bare" "127.0.0.1:$bare_port" > "$work/bare.log" 2>&1 &
pids+=($!); bare_pid=$!
# The A/B servers: berth on the C library's malloc, and the clock behind the kit's
# layer or tower-http's, with the kit's JSON lines or tracing-subscriber's.
sys_port=$(free_port)
BERTH_LOG_FORMAT=json RUST_LOG=info "$sysbin" serve clock --clock-addr "127.0.0.1:$sys_port" > "$work/system.log" 2>&1 &
pids+=($!); sys_pid=$!
declare -A ab_port ab_pid
for way in observe-kit tower-kit observe-fmt; do
  ab_port[$way]=$(free_port)
  "$ab" "127.0.0.1:${ab_port[$way]}" --layers "${way%-*}" --log "${way#*-}" > /dev/null 2>&1 &
  pids+=($!); ab_pid[$way]=$!
done
wait_http "http://127.0.0.1:$kit_port/healthcheck"
wait_http "http://127.0.0.1:$bare_port/clock?mirror_time=12:22"
wait_http "http://127.0.0.1:$quiet_port/healthcheck"
wait_http "http://127.0.0.1:$sys_port/healthcheck"
expected=$(curl -s "http://127.0.0.1:$kit_port/clock?mirror_time=12:22")
for url in "http://127.0.0.1:$bare_port" "http://127.0.0.1:$sys_port" \
  "http://127.0.0.1:${ab_port[observe-kit]}" "http://127.0.0.1:${ab_port[tower-kit]}" "http://127.0.0.1:${ab_port[observe-fmt]}"; do
  wait_http "$url/clock?mirror_time=12:22"
  [ "$(curl -s "$url/clock?mirror_time=12:22")" = "$expected" ] \
    || { echo "$url answers differently from berth" >&2; exit 1; }
done
# Both stacks give every answer an x-request-id (and keep the client's).
for way in observe-kit tower-kit; do
  curl -s -D - -o /dev/null -H 'x-request-id: bench-probe' "http://127.0.0.1:${ab_port[$way]}/clock?mirror_time=12:22" \
    | grep -qi '^x-request-id: bench-probe' || { echo "ab_clock $way does not echo x-request-id" >&2; exit 1; }
done

wrk_args=(-t2 "-c$conns" "-d$duration" --latency)
bare_rps=(); kit_rps=(); quiet_rps=(); bare_us=(); kit_us=()
sys_rps=(); sys_us=()
declare -A ab_rps ab_us  # per way: the rounds' figures, space-separated
# The server's own CPU per request over a round (lib.sh: cpu_ticks, us_per_request):
# steadier than requests/s on a machine whose other tenants take cycles.
secs=${duration%s}
# Runs one round against PID at URL; prints "req/s µs-per-request".
measure() {
  local pid=$1 url=$2 c0 n
  c0=$(cpu_ticks "$pid")
  n=$(wrk_rps "$url/clock?mirror_time=12:22" "${wrk_args[@]}")
  echo "$n $(us_per_request "$c0" "$(cpu_ticks "$pid")" "$n" "$secs")"
}
echo "==> warm-up"
for url in "http://127.0.0.1:$bare_port" "http://127.0.0.1:$kit_port" "http://127.0.0.1:$sys_port" \
  "http://127.0.0.1:${ab_port[observe-kit]}" "http://127.0.0.1:${ab_port[tower-kit]}" "http://127.0.0.1:${ab_port[observe-fmt]}"; do
  wrk_rps "$url/clock?mirror_time=12:22" -t2 "-c$conns" -d2s >/dev/null
done
for r in $(seq 1 "$rounds"); do
  read -r b u < <(measure "$bare_pid" "http://127.0.0.1:$bare_port"); bare_rps+=("$b"); bare_us+=("$u")
  read -r k u < <(measure "$kit_pid" "http://127.0.0.1:$kit_port"); kit_rps+=("$k"); kit_us+=("$u")
  q=$(wrk_rps "http://127.0.0.1:$quiet_port/clock?mirror_time=12:22" "${wrk_args[@]}"); quiet_rps+=("$q")
  read -r s u < <(measure "$sys_pid" "http://127.0.0.1:$sys_port"); sys_rps+=("$s"); sys_us+=("$u")
  line="    round $r: bare $b req/s, kit $k req/s, kit without access line $q req/s, kit on the system allocator $s req/s;"
  # The three ways of ab_clock, in a different order each round.
  ways=(observe-kit tower-kit observe-fmt)
  for i in $(seq 0 2); do
    way=${ways[$(( (i + r) % 3 ))]}
    read -r a u < <(measure "${ab_pid[$way]}" "http://127.0.0.1:${ab_port[$way]}")
    ab_rps[$way]+="$a "; ab_us[$way]+="$u "
    line+=" ab_clock $way $a req/s ($u µs)"
  done
  echo "$line"
done
bare_med=$(median "${bare_rps[@]}"); kit_med=$(median "${kit_rps[@]}"); quiet_med=$(median "${quiet_rps[@]}")
quiet_ratio=$(ratio "$quiet_med" "$bare_med")
ratio=$(ratio "$kit_med" "$bare_med")
cost=$(python3 -c "print(f'{(1-$kit_med/$bare_med)*100:.1f}')")
lines=$(wc -l < "$work/berth.log")
echo "    median: bare $bare_med req/s, kit $kit_med req/s, ratio $ratio (kit costs $cost%); $lines log lines written"
sys_med=$(median "${sys_rps[@]}"); kit_us_med=$(median "${kit_us[@]}"); sys_us_med=$(median "${sys_us[@]}")
alloc_ratio=$(ratio "$kit_med" "$sys_med"); alloc_us_ratio=$(ratio "$kit_us_med" "$sys_us_med")
echo "    allocator: jemalloc $kit_med req/s ($kit_us_med µs), system $sys_med req/s ($sys_us_med µs), ratio $alloc_ratio"
declare -A ab_med ab_us_med
for way in observe-kit tower-kit observe-fmt; do
  read -ra xs <<< "${ab_rps[$way]}"; ab_med[$way]=$(median "${xs[@]}")
  read -ra xs <<< "${ab_us[$way]}"; ab_us_med[$way]=$(median "${xs[@]}")
done
# The rounds of one way of ab_clock: "(req/s, µs) ...".
ab_pairs() {
  local -a n u
  read -ra n <<< "${ab_rps[$1]}"; read -ra u <<< "${ab_us[$1]}"
  for i in "${!n[@]}"; do printf '(%s, %s) ' "${n[$i]}" "${u[$i]}"; done
}
layers_ratio=$(ratio "${ab_med[observe-kit]}" "${ab_med[tower-kit]}")
layers_us_ratio=$(ratio "${ab_us_med[observe-kit]}" "${ab_us_med[tower-kit]}")
log_ratio=$(ratio "${ab_med[observe-kit]}" "${ab_med[observe-fmt]}")
log_us_ratio=$(ratio "${ab_us_med[observe-kit]}" "${ab_us_med[observe-fmt]}")
echo "    layers: kit ${ab_med[observe-kit]} req/s (${ab_us_med[observe-kit]} µs), tower-http ${ab_med[tower-kit]} req/s (${ab_us_med[tower-kit]} µs), ratio $layers_ratio"
echo "    JSON log: kit ${ab_med[observe-kit]} req/s, tracing-subscriber ${ab_med[observe-fmt]} req/s (${ab_us_med[observe-fmt]} µs), ratio $log_ratio"

echo "==> pinned: servers on CPU 1, wrk on CPU 0"
pin_bare_port=$(free_port); pin_kit_port=$(free_port)
BERTH_LOG_FORMAT=json RUST_LOG=info taskset -c 1 "$bin" serve clock --clock-addr "127.0.0.1:$pin_kit_port" > "$work/pinned.log" 2>&1 &
pids+=($!)
taskset -c 1 "$bare" "127.0.0.1:$pin_bare_port" > "$work/pinned-bare.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$pin_kit_port/healthcheck"
wait_http "http://127.0.0.1:$pin_bare_port/clock?mirror_time=12:22"
pin_args=(-t1 "-c$conns" "-d$duration")
pin_bare=(); pin_kit=()
pinned_rps() { taskset -c 0 wrk "${pin_args[@]}" "$1" > "$work/pinned.txt" && report_rps "$work/pinned.txt"; }
for r in $(seq 1 "$rounds"); do
  b=$(pinned_rps "http://127.0.0.1:$pin_bare_port/clock?mirror_time=12:22")
  k=$(pinned_rps "http://127.0.0.1:$pin_kit_port/clock?mirror_time=12:22")
  echo "    pinned round $r: bare $b req/s, kit $k req/s"
  pin_bare+=("$b"); pin_kit+=("$k")
done
pin_bare_med=$(median "${pin_bare[@]}"); pin_kit_med=$(median "${pin_kit[@]}")
pin_ratio=$(ratio "$pin_kit_med" "$pin_bare_med")
echo "    median, pinned: bare $pin_bare_med req/s, kit $pin_kit_med req/s, ratio $pin_ratio"

echo "==> instructions per request (callgrind)"
# instructions_per_request [NAME=VALUE...] CMD... (the word PORT stands for the port to
# listen on; NAME=VALUE words before CMD are its environment):
# runs CMD under callgrind, warms it up, counts the instructions of every thread over
# a 3 s wrk run (one thread, 4 connections) and divides by the requests wrk got.
instructions_per_request() {
  local port vg_pid out n total args=() envs=()
  port=$(free_port)
  while [[ $1 == *=* ]]; do envs+=("$1"); shift; done
  for a in "$@"; do args+=("${a//PORT/$port}"); done
  out="$work/callgrind.$port"
  env "${envs[@]}" valgrind --tool=callgrind --callgrind-out-file="$out.%p" "${args[@]}" > /dev/null 2> "$work/valgrind.$port.log" &
  vg_pid=$!; pids+=("$vg_pid")
  wait_http "http://127.0.0.1:$port/clock?mirror_time=12:22" || { cat "$work/valgrind.$port.log" >&2; return 1; }
  wrk -t1 -c4 -d2s "http://127.0.0.1:$port/clock?mirror_time=12:22" > /dev/null
  callgrind_control -z "$vg_pid" > /dev/null 2>&1
  n=$(wrk -t1 -c4 -d3s "http://127.0.0.1:$port/clock?mirror_time=12:22" | awk '/requests in/ {print $1}')
  callgrind_control -d "$vg_pid" > /dev/null 2>&1
  total=$(awk '/^totals:/ {print $2}' "$out.$vg_pid.1")
  kill "$vg_pid"; wait "$vg_pid" 2>/dev/null || true
  python3 -c "print(round($total / $n))"
}
declare -A ipr
ipr[bare]=$(instructions_per_request "$bare" 127.0.0.1:PORT)
for way in observe-kit tower-kit observe-fmt; do
  ipr[$way]=$(instructions_per_request "$ab" 127.0.0.1:PORT --layers "${way%-*}" --log "${way#*-}")
done
ipr[jemalloc]=$(instructions_per_request BERTH_LOG_FORMAT=json RUST_LOG=info "$bin" serve clock --clock-addr 127.0.0.1:PORT)
ipr[system]=$(instructions_per_request BERTH_LOG_FORMAT=json RUST_LOG=info "$sysbin" serve clock --clock-addr 127.0.0.1:PORT)
for k in bare observe-kit tower-kit observe-fmt jemalloc system; do echo "    $k: ${ipr[$k]} instructions per request"; done
layers_ipr=$(ratio "${ipr[observe-kit]}" "${ipr[tower-kit]}")
log_ipr=$(ratio "${ipr[observe-kit]}" "${ipr[observe-fmt]}")
alloc_ipr=$(ratio "${ipr[jemalloc]}" "${ipr[system]}")

echo "==> startup and idle memory"
startup=$(python3 - "$bin" <<'PY'
import os, socket, subprocess, sys, time, statistics
binary = sys.argv[1]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def get(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as c:
            c.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return c.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
times, rss = [], []
for _ in range(10):
    port = free_port()
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "serve", "clock", "--clock-addr", f"127.0.0.1:{port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, BERTH_LOG_FORMAT="json"))
    while not get(port):
        if time.perf_counter() - t0 > 10: sys.exit("no answer in 10 s")
    times.append((time.perf_counter() - t0) * 1000)
    time.sleep(2)
    with open(f"/proc/{p.pid}/status") as f:
        rss.append(next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024)
    p.terminate(); p.wait()
print(f"{statistics.median(times):.1f} {max(times):.1f} {statistics.median(rss):.1f} {max(rss):.1f}")
PY
)
read -r start_med start_max rss_med rss_max <<< "$startup"
echo "    ready after exec: median $start_med ms, max $start_max ms; idle RSS median $rss_med MiB, max $rss_max MiB"

cat > "$work/section.md" <<MD
## Kit overhead, startup and memory (clock)

Measured $(date -u +%Y-%m-%d) on: $(machine); load average $load_start at the start, $(loadavg) at the end.
Command: \`scripts/bench kit\` (wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}'), \`${wrk_args[*]}\`, $rounds alternated rounds, medians).

| measure | figure | target |
|---|---|---|
| bare axum handler, \`GET /clock\` (same allocator as berth: jemalloc) | $bare_med req/s | baseline |
| \`berth serve clock\` (every kit layer, JSON log line per request) | $kit_med req/s | |
| kit / bare | **$ratio** (the kit costs $cost%) | ≥ 0.75 |
| server CPU per request (user + system, \`/proc/PID/stat\`): bare / kit | $(median "${bare_us[@]}") µs / $(median "${kit_us[@]}") µs | context |
| same, access line off (\`RUST_LOG=info,berth::access=off\`) | $quiet_med req/s, **$quiet_ratio** of bare | |
| pinned (servers on CPU 1, \`taskset -c 0 wrk ${pin_args[*]}\`): bare / kit | $pin_bare_med / $pin_kit_med req/s = **$pin_ratio** | context |
| exec → first 200 on \`/healthcheck\` (10 starts) | median $start_med ms, max $start_max ms | ≤ 100 ms |
| idle resident memory (10 starts) | median $rss_med MiB, max $rss_max MiB | < 15 MiB |
| **A/B** kit layer vs tower-http stack: \`ab_clock --layers observe\` / \`--layers tower\` (both with the kit's JSON lines) | ${ab_med[observe-kit]} / ${ab_med[tower-kit]} req/s = **$layers_ratio**; CPU per request ${ab_us_med[observe-kit]} / ${ab_us_med[tower-kit]} µs = **$layers_us_ratio**; instructions per request ${ipr[observe-kit]} / ${ipr[tower-kit]} = **$layers_ipr** | kit's layer kept if req/s ≥ 1.03 or CPU ≤ 0.97 |
| **A/B** JSON log lines: kit's layer vs tracing-subscriber json: \`ab_clock --log kit\` / \`--log fmt\` (both behind the kit's layer) | ${ab_med[observe-kit]} / ${ab_med[observe-fmt]} req/s = **$log_ratio**; CPU per request ${ab_us_med[observe-kit]} / ${ab_us_med[observe-fmt]} µs = **$log_us_ratio**; instructions per request ${ipr[observe-kit]} / ${ipr[observe-fmt]} = **$log_ipr** | kit's layer kept if req/s ≥ 1.03 or CPU ≤ 0.97 |
| **A/B** allocator: jemalloc vs system: \`berth serve clock\`, default build / \`--no-default-features\` | $kit_med / $sys_med req/s = **$alloc_ratio**; CPU per request $kit_us_med / $sys_us_med µs = **$alloc_us_ratio**; instructions per request ${ipr[jemalloc]} / ${ipr[system]} = **$alloc_ipr** | jemalloc kept if req/s ≥ 1.03 or CPU ≤ 0.97 |
| instructions per request (callgrind, every thread, \`wrk -t1 -c4 -d3s\` after a warm-up): bare handler | ${ipr[bare]} | context |

Rounds (bare, kit, kit without access line; req/s): $(for i in "${!bare_rps[@]}"; do printf '(%s, %s, %s) ' "${bare_rps[$i]}" "${kit_rps[$i]}" "${quiet_rps[$i]}"; done)
A/B rounds (req/s, µs per request): kit layer $(ab_pairs observe-kit);
tower-http $(ab_pairs tower-kit);
tracing-subscriber json $(ab_pairs observe-fmt);
berth jemalloc / system $(for i in "${!bare_rps[@]}"; do printf '(%s, %s; %s, %s) ' "${kit_rps[$i]}" "${kit_us[$i]}" "${sys_rps[$i]}" "${sys_us[$i]}"; done)
Pinned rounds (bare, kit; req/s): $(for i in "${!pin_bare[@]}"; do printf '(%s, %s) ' "${pin_bare[$i]}" "${pin_kit[$i]}"; done)
wrk runs on the same two cores as the server, so absolute figures are low; the ratio
is what the target is about. The memory is that of \`target/release/berth\` (every
service compiled in, opt-level 3, fat LTO): about half of it is the binary's code
pages mapped from the page cache, the rest anonymous memory. The image's binary
(\`--profile image\`, opt-level s) idles at about 9 MiB: see the image section.

The A/B rows run in the same rounds as the rest, each way in its own process, the
order of the three \`ab_clock\` ways rotated every round. In this run the kit's layer
served $(percent_vs "${ab_med[observe-kit]}" "${ab_med[tower-kit]}") requests/s than the same work from tower-http's layers
(which also do less: no 414/431 for oversized heads, no 408 for a body still arriving
at the timeout) and took $(percent_vs "${ab_us_med[observe-kit]}" "${ab_us_med[tower-kit]}") CPU per request; the kit's JSON lines served
$(percent_vs "${ab_med[observe-kit]}" "${ab_med[observe-fmt]}") requests/s than tracing-subscriber's \`json\` formatter writing the same
fields through the same batching writer, at $(percent_vs "${ab_us_med[observe-kit]}" "${ab_us_med[observe-fmt]}") CPU per request; jemalloc
served $(percent_vs "$kit_med" "$sys_med") requests/s than the C library's malloc, at $(percent_vs "$kit_us_med" "$sys_us_med") CPU per request.
Round by round, the kit's layer took less CPU per request than tower-http's in
$(rounds_below "${ab_us[observe-kit]}" "${ab_us[tower-kit]}") rounds, the kit's JSON lines less than tracing-subscriber's in $(rounds_below "${ab_us[observe-kit]}" "${ab_us[observe-fmt]}"), jemalloc less than
malloc in $(rounds_below "${kit_us[*]}" "${sys_us[*]}"). One process's requests/s moved by up to $(largest "$(spread "${kit_rps[@]}")" "$(spread "${sys_rps[@]}")" "$(spread "${ab_rps[observe-kit]}")" "$(spread "${ab_rps[tower-kit]}")" "$(spread "${ab_rps[observe-fmt]}")")% from one
round to the next in this run, its CPU per request by up to $(largest "$(spread "${kit_us[@]}")" "$(spread "${sys_us[@]}")" "$(spread "${ab_us[observe-kit]}")" "$(spread "${ab_us[tower-kit]}")" "$(spread "${ab_us[observe-fmt]}")")%: a difference
of requests/s smaller than that says nothing. The instruction counts do not depend on what else the machine runs (they miss
what an instruction costs: cache misses, a lock's wait), so they are the steadier
figure when the rounds spread; the kit's layer runs $(percent_vs "${ipr[observe-kit]}" "${ipr[tower-kit]}" more fewer) instructions per
request than tower-http's stack, its JSON lines $(percent_vs "${ipr[observe-kit]}" "${ipr[observe-fmt]}" more fewer) than tracing-subscriber's,
and jemalloc $(percent_vs "${ipr[jemalloc]}" "${ipr[system]}" more fewer) than the C library's malloc.
MD
write_section kit "$work/section.md"
echo "==> wrote docs/benchmarks.md (section kit)"
