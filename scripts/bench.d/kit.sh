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
#  - resident memory of `berth serve clock` once idle.
# Knobs: BENCH_CONNECTIONS (32), BENCH_DURATION (10s), BENCH_ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench.d/lib.sh

conns=${BENCH_CONNECTIONS:-32}
duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-3}

ensure_cmds wrk:wrk
ensure_cmds curl:curl
echo "==> building release binaries"
cargo build --release -q -p berth --bin berth --example bare_clock
bin=$(release_dir)/berth
bare=$(release_dir)/examples/bare_clock

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
wait_http "http://127.0.0.1:$kit_port/healthcheck"
wait_http "http://127.0.0.1:$bare_port/clock?mirror_time=12:22"
wait_http "http://127.0.0.1:$quiet_port/healthcheck"
[ "$(curl -s "http://127.0.0.1:$kit_port/clock?mirror_time=12:22")" = "$(curl -s "http://127.0.0.1:$bare_port/clock?mirror_time=12:22")" ] \
  || { echo "the two servers answer differently" >&2; exit 1; }

wrk_args=(-t2 "-c$conns" "-d$duration" --latency)
bare_rps=(); kit_rps=(); quiet_rps=(); bare_us=(); kit_us=()
# The server's own CPU time (user + system, clock ticks) and its CPU per request over a
# round: steadier than requests/s on a machine whose other tenants take cycles.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
secs=${duration%s}
us_per_request() { python3 -c "print(f'{($2 - $1) / $hz * 1e6 / ($3 * $secs):.2f}')"; }
echo "==> warm-up"
wrk_rps "http://127.0.0.1:$bare_port/clock?mirror_time=12:22" -t2 "-c$conns" -d2s >/dev/null
wrk_rps "http://127.0.0.1:$kit_port/clock?mirror_time=12:22" -t2 "-c$conns" -d2s >/dev/null
for r in $(seq 1 "$rounds"); do
  c0=$(cpu_ticks "$bare_pid")
  b=$(wrk_rps "http://127.0.0.1:$bare_port/clock?mirror_time=12:22" "${wrk_args[@]}")
  bare_us+=("$(us_per_request "$c0" "$(cpu_ticks "$bare_pid")" "$b")")
  c0=$(cpu_ticks "$kit_pid")
  k=$(wrk_rps "http://127.0.0.1:$kit_port/clock?mirror_time=12:22" "${wrk_args[@]}")
  kit_us+=("$(us_per_request "$c0" "$(cpu_ticks "$kit_pid")" "$k")")
  q=$(wrk_rps "http://127.0.0.1:$quiet_port/clock?mirror_time=12:22" "${wrk_args[@]}")
  echo "    round $r: bare $b req/s, kit $k req/s, kit without access line $q req/s"
  bare_rps+=("$b"); kit_rps+=("$k"); quiet_rps+=("$q")
done
bare_med=$(median "${bare_rps[@]}"); kit_med=$(median "${kit_rps[@]}"); quiet_med=$(median "${quiet_rps[@]}")
quiet_ratio=$(ratio "$quiet_med" "$bare_med")
ratio=$(ratio "$kit_med" "$bare_med")
cost=$(python3 -c "print(f'{(1-$kit_med/$bare_med)*100:.1f}')")
lines=$(wc -l < "$work/berth.log")
echo "    median: bare $bare_med req/s, kit $kit_med req/s, ratio $ratio (kit costs $cost%); $lines log lines written"

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

Measured $(date -u +%Y-%m-%d) on: $(machine).
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

Rounds (bare, kit, kit without access line; req/s): $(for i in "${!bare_rps[@]}"; do printf '(%s, %s, %s) ' "${bare_rps[$i]}" "${kit_rps[$i]}" "${quiet_rps[$i]}"; done)
Pinned rounds (bare, kit; req/s): $(for i in "${!pin_bare[@]}"; do printf '(%s, %s) ' "${pin_bare[$i]}" "${pin_kit[$i]}"; done)
wrk runs on the same two cores as the server, so absolute figures are low; the ratio
is what the target is about. The memory is that of \`target/release/berth\` (every
service compiled in, opt-level 3, fat LTO): about half of it is the binary's code
pages mapped from the page cache, the rest anonymous memory. The image's binary
(\`--profile image\`, opt-level s) idles at about 9 MiB: see the image section.
MD
write_section kit "$work/section.md"
echo "==> wrote docs/benchmarks.md (section kit)"
