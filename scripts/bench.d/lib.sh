# shellcheck shell=bash
# Helpers shared by the benchmarks (sourced).

# The release build's directory (CARGO_TARGET_DIR when set, as cargo does).
release_dir() {
  local t=${CARGO_TARGET_DIR:-target}
  [[ $t == /* ]] || t=$PWD/$t
  printf '%s/release\n' "$t"
}

# What a build of berth with cargo's arguments ARGS is made from (a hash): build_key ARGS.
build_key() {
  {
    git rev-parse HEAD:crates HEAD:Cargo.toml HEAD:Cargo.lock
    git diff HEAD -- crates Cargo.toml Cargo.lock
    git ls-files -o --exclude-standard -- crates | sort | xargs -r cat
    rustc -V
    echo "$@"
  } | sha256sum | cut -d' ' -f1
}

# Builds berth with cargo's arguments ARGS (none for the default build; a feature
# switched otherwise) and prints the path of a copy of that binary, kept beside the
# release directory as bench-variants/berth-NAME: variant_berth NAME [cargo args...].
# cargo keeps one build of a binary at a time, so switching a feature back and forth
# links berth again each time (minutes, fat LTO); the copy is reused as long as the
# sources, Cargo.lock, the compiler and ARGS are those it was built from.
variant_berth() {
  local name=$1; shift
  local dir key
  dir="$(release_dir)/../bench-variants"
  mkdir -p "$dir"
  key=$(build_key "$@")
  if [ ! -x "$dir/berth-$name" ] || [ "$(cat "$dir/berth-$name.key" 2>/dev/null)" != "$key" ]; then
    echo "    building berth ($name${*:+: $*})" >&2
    cargo build --release -q -j2 -p berth --bin berth "$@" >&2
    cp "$(release_dir)/berth" "$dir/berth-$name.new"
    mv "$dir/berth-$name.new" "$dir/berth-$name"
    echo "$key" > "$dir/berth-$name.key"
  fi
  printf '%s\n' "$dir/berth-$name"
}

# The server's own CPU time (user + system, clock ticks) of process PID.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Microseconds of CPU per request: us_per_request TICKS_BEFORE TICKS_AFTER REQ_PER_S SECONDS.
us_per_request() {
  python3 -c "print(f'{($2 - $1) / $(getconf CLK_TCK) * 1e6 / ($3 * $4):.2f}')"
}

# "A is N% more/less than B" for a sentence: percent_vs A B [more-word less-word].
percent_vs() {
  python3 -c "
a, b = $1, $2
d = (a / b - 1) * 100
print(f'{abs(d):.1f}% ' + ('${3:-more}' if d >= 0 else '${4:-less}'))"
}

# free_port, say/die (common.sh) and the one installer (tools.sh).
# shellcheck source=scripts/lib/tools.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tools.sh"

# Waits until URL answers 2xx (at most 20 s).
wait_http() {
  local url=$1
  for _ in $(seq 1 400); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "timed out waiting for $url" >&2
  return 1
}

# Requests/s reported by a wrk run: wrk_rps URL [wrk args...]
wrk_rps() {
  local url=$1; shift
  wrk "$@" "$url" | awk '/^Requests\/sec:/ {print $2}'
}

# The median of the numbers given as arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}

# A / B to three decimals.
ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }

# "met" when the Python condition $1 holds, else "**missed**" (for a target's cell).
verdict() { python3 -c "print('met' if $1 else '**missed**')"; }

# One line describing this machine.
machine() {
  echo "$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), $(uname -r), $(rustc --version)"
}

# Replaces the section NAME of docs/benchmarks.md with the content of FILE.
write_section() {
  local name=$1 file=$2 doc=docs/benchmarks.md
  [ -f "$doc" ] || printf '# Benchmarks\n' > "$doc"
  python3 - "$doc" "$name" "$file" <<'PY'
import sys, re
doc, name, file = sys.argv[1:]
text = open(doc).read()
body = open(file).read().rstrip() + "\n"
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
block = f"{begin}\n{body}{end}"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(doc, "w").write(text)
PY
}

# Starts the throwaway PostgreSQL + Redis of scripts/testenv.sh in DIR and exports
# its DIR/env (BERTH_TEST_PG_URL, BERTH_TEST_REDIS_*_URL...). The user postgres must
# reach DIR (a `mktemp -d` parent needs `chmod 755`); the caller's EXIT trap must run
# `scripts/testenv.sh down DIR`.
testenv_up() {
  scripts/testenv.sh up "$1" >/dev/null
  # shellcheck source=/dev/null
  source "$1/env"
}

# Runs wrk and keeps its report in FILE: wrk_report FILE URL [wrk args...] [-- script
# args...]. Fails (and shows the report) when an answer was not 2xx/3xx: a benchmark of
# errors is no benchmark.
wrk_report() {
  local file=$1 url=$2; shift 2
  wrk "$url" "$@" > "$file"
  if grep -q '^ *Non-2xx' "$file"; then
    cat "$file" >&2
    echo "wrk got error answers from $url" >&2
    return 1
  fi
  grep '^ *Socket errors' "$file" >&2 || true
}

# Requests/s of a report written by wrk_report.
report_rps() {
  awk '/^Requests\/sec:/ {print $2}' "$1"
}

# A latency percentile (50, 75, 90 or 99) of a wrk_report --latency report, in ms:
# report_ms FILE PERCENTILE [DECIMALS (2)].
report_ms() {
  awk -v p="$2%" -v d="${3:-2}" '$1 == p {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
    printf "%.*f\n", d, (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : (u == "m") ? v * 60000 : v
  }' "$1"
}

# p50 and p99 latency (ms) that redis-benchmark measures for one command:
# redis_bench_latency URL [args...] prints "p50 p99".
redis_bench_latency() {
  local url=$1; shift
  redis-benchmark -u "$url" --csv "$@" 2>/dev/null | awk -F'"' 'NR == 2 {print $10, $14}'
}

# Requests/s that redis-benchmark gets for one command: redis_bench_rps URL [args...]
# (URL redis://user:password@host:port/db; args end with the command and its arguments).
redis_bench_rps() {
  local url=$1; shift
  redis-benchmark -u "$url" --csv "$@" 2>/dev/null | awk -F'"' 'NR == 2 {print $4}'
}

# How far apart the rounds of one measure are: (largest / smallest - 1) in %, no
# decimals: spread VALUE...
spread() {
  python3 -c "import sys; v = [float(x) for x in ' '.join(sys.argv[1:]).split()]; print(f'{(max(v) / min(v) - 1) * 100:.0f}')" "$@"
}

# The largest of the numbers given as arguments.
largest() { printf '%s\n' "$@" | sort -g | tail -1; }

# The load average over the last 1, 5 and 15 minutes.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# In how many rounds A was below B: rounds_below "A1 A2..." "B1 B2..." prints "N of M".
rounds_below() {
  python3 -c "
import sys
a, b = (list(map(float, s.split())) for s in sys.argv[1:])
print(f'{sum(x < y for x, y in zip(a, b))} of {len(a)}')" "$1" "$2"
}
