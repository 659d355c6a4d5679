# shellcheck shell=bash
# Helpers shared by scripts/test and scripts/testenv.sh (sourced, not run).

say() { printf '==> %s\n' "$*"; }
warn() { printf '==> warning: %s\n' "$*" >&2; }
die() {
    printf '==> error: %s\n' "$*" >&2
    exit 1
}

# fail_with_log MESSAGE LOGFILE: print the server log, then die.
fail_with_log() {
    printf '==> error: %s\n' "$1" >&2
    if [[ -s $2 ]]; then
        printf -- '----- %s (last 100 lines) -----\n' "$2" >&2
        tail -n 100 "$2" >&2
        printf -- '----- end of %s -----\n' "$2" >&2
    fi
    exit 1
}

# free_port: print a TCP port on 127.0.0.1 that nobody listens on. Asks the
# kernel (bind to port 0) when python3 works; else probes random ports.
# (Another process may take it before we bind: callers retry.)
free_port() {
    local p
    if p=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null) && [[ $p =~ ^[0-9]+$ ]]; then
        echo "$p"
        return 0
    fi
    local i
    for i in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
        # connection refused => nobody listens there
        if ! (: <>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
        : "$i"
    done
    die "no free port found"
}

# gen_password: 48 random hex characters (URL-safe).
gen_password() {
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

# is_proc PID NAME: PID is alive and its command line mentions NAME
# (guards against PID reuse before killing).
is_proc() {
    [[ -n $1 && $1 =~ ^[0-9]+$ ]] || return 1
    alive "$1" || return 1
    [[ -r /proc/$1/cmdline ]] || return 0
    tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$2"
}

# alive PID: PID runs (a zombie, exited but not yet reaped by its parent,
# e.g. init for daemons, counts as gone).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# wait_gone PID SECONDS: wait until PID has exited.
wait_gone() {
    local deadline=$((SECONDS + $2))
    while alive "$1"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
