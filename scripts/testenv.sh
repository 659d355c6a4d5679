#!/usr/bin/env bash
# Throwaway PostgreSQL 15 + Redis 7 for tests, benchmarks and end-to-end runs.
#
# Usage:
#   scripts/testenv.sh ensure-packages [PKG...]
#       Install what is missing from Debian packages (apt-get, non-interactive).
#       Without PKG: redis-server, redis-tools, postgresql-15 and
#       postgresql-client-15, each only if its commands are missing.
#   scripts/testenv.sh up DIR
#       Start PostgreSQL and Redis on free 127.0.0.1 ports, with state in DIR
#       (created if needed), and write DIR/env: `export ...` lines (below).
#       Beside them, for the TLS and cluster tests: throwaway certificate
#       authorities and certificates (openssl), a second PostgreSQL that takes
#       TLS connections only, a Redis on a TLS port, and a Redis Cluster of
#       three masters over TLS (all from the same deploy/redis config and
#       ACL users).
#   scripts/testenv.sh down DIR
#       Stop both and remove everything `up` created in DIR (and DIR if empty).
#   scripts/testenv.sh status DIR
#       Exit 0 if both servers of DIR answer.
#   scripts/testenv.sh check-redis DIR
#       Check the Redis of DIR against deploy/redis's ACL and AOF contract.
#   scripts/testenv.sh stop-pg DIR | start-pg DIR
#       Stop PostgreSQL (fast shutdown: sessions are ended) or start it again, on the
#       same data and port (for outage tests).
#   scripts/testenv.sh kill-redis DIR | start-redis DIR
#       SIGKILL Redis (no shutdown, no final fsync) or start it again, on the same
#       data, ACL file and port.
#
# DIR/env exports (the contract with the Rust tests):
#   BERTH_TEST_ENV_DIR            DIR (absolute)
#   BERTH_TEST_PG_URL             postgres://postgres@127.0.0.1:PORT/postgres
#                                 superuser, trust auth; tests create a fresh
#                                 database per test from it
#   BERTH_TEST_PG_BIN             PostgreSQL server binaries (pgbench, ...)
#   BERTH_TEST_REDIS_URL          redis://kv:PASSWORD@127.0.0.1:PORT/0
#                                 the kv application user (keys kv:*)
#   BERTH_TEST_REDIS_MULTIVAC_URL redis://multivac:PASSWORD@.../0 (multivac:*)
#   BERTH_TEST_REDIS_HEALTHCHECK_URL redis://healthcheck:PASSWORD@.../0 (PING)
#   BERTH_TEST_REDIS_ADMIN_URL    redis://admin:PASSWORD@.../0 (everything;
#                                 e.g. FLUSHALL between tests, CONFIG GET)
#   BERTH_TEST_REDIS_SERVER       absolute path of redis-server
#   BERTH_TEST_REDIS_CONF_DIR     absolute path of deploy/redis (redis.conf,
#                                 render-acl.sh, entrypoint.sh)
#   SSL_CERT_FILE                 DIR/tls/bundle.crt: the system's CA bundle
#                                 plus the test CA (as the image's
#                                 SSL_CERT_FILE): the trust of every rustls
#                                 client in the tests (sqlx, redis-rs, kv)
#   BERTH_TEST_TLS_CA             the test CA (in the bundle)
#   BERTH_TEST_TLS_CERT, _KEY     a server certificate from it, for localhost
#                                 and 127.0.0.1 (server and client auth)
#   BERTH_TEST_TLS_PRIVATE_CA     a second CA, NOT in the bundle
#   BERTH_TEST_TLS_PRIVATE_CERT, _KEY  a server certificate from it
#   BERTH_TEST_PG_TLS_URL         postgres://postgres@localhost:PORT/postgres
#                                 a PostgreSQL with ssl = on and a certificate
#                                 of the private CA, that refuses connections
#                                 without TLS (pg_hba: hostssl only)
#   BERTH_TEST_REDIS_TLS_URL      rediss://kv:PASSWORD@localhost:PORT/0: a Redis
#                                 on a TLS port only (test CA), same users and
#                                 passwords as the plain one
#   BERTH_TEST_REDIS_TLS_MULTIVAC_URL, BERTH_TEST_REDIS_TLS_ADMIN_URL
#   BERTH_TEST_REDIS_CLUSTER_URL  rediss://kv:PASSWORD@127.0.0.1:PORT/0: one
#                                 node of a Redis Cluster of three masters,
#                                 TLS only (clients and cluster bus), same users
#   BERTH_TEST_REDIS_CLUSTER_MULTIVAC_URL, BERTH_TEST_REDIS_CLUSTER_ADMIN_URL
#   BERTH_TEST_REDIS_CLUSTER_NODES  127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
#
# A test that needs its OWN Redis (e.g. to SIGKILL it and restart it on the
# same data directory) starts it from the shipped config like this, with
# DATA a fresh directory it owns and PORT a free port:
#
#   REDIS_KV_PASSWORD=... REDIS_MULTIVAC_PASSWORD=... \
#   REDIS_HEALTHCHECK_PASSWORD=... REDIS_ADMIN_PASSWORD=... \
#   REDIS_SERVER="$BERTH_TEST_REDIS_SERVER" \
#     sh "$BERTH_TEST_REDIS_CONF_DIR/render-acl.sh" DATA/users.acl
#   "$BERTH_TEST_REDIS_SERVER" "$BERTH_TEST_REDIS_CONF_DIR/redis.conf" \
#     --aclfile DATA/users.acl --dir DATA --port PORT --bind 127.0.0.1
#
# (unset passwords leave that user disabled; keep the process as a child:
# no --daemonize; logs go to stdout unless --logfile FILE). Then poll
# `AUTH healthcheck PW` + `PING` until PONG. Restart = the same redis-server
# command on the same DATA; the ACL file can be reused. The password in a
# URL must be URL-safe (this script uses hex).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/tools.sh
. "$ROOT/scripts/lib/tools.sh"

REDIS_CONF_DIR="$ROOT/deploy/redis"
MARKER=.berth-testenv
PG_READY_TIMEOUT=${BERTH_TEST_PG_TIMEOUT:-60}
REDIS_READY_TIMEOUT=${BERTH_TEST_REDIS_TIMEOUT:-30}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit "${1:-2}"
}

# ---------------------------------------------------------------- packages --

pg_bin_dir() {
    if [[ -n ${BERTH_TEST_PG_BIN:-} ]]; then
        echo "$BERTH_TEST_PG_BIN"
    elif [[ -x /usr/lib/postgresql/15/bin/postgres ]]; then
        echo /usr/lib/postgresql/15/bin
    else
        local d
        d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
        if [[ -n $d && -x $d/postgres ]]; then
            echo "$d"
        elif command -v postgres >/dev/null 2>&1; then
            dirname "$(readlink -f "$(command -v postgres)")"
        else
            echo /usr/lib/postgresql/15/bin
        fi
    fi
}

cmd_ensure_packages() {
    if (($# > 0)); then
        ensure_apt "$@"
        return
    fi
    local -a want=()
    local p pg_bin
    pg_bin=$(pg_bin_dir)
    command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || want+=(redis-tools)
    command -v openssl >/dev/null 2>&1 || want+=(openssl)
    for p in initdb pg_ctl postgres; do
        if [[ ! -x $pg_bin/$p ]]; then
            want+=(postgresql-15)
            break
        fi
    done
    if ! command -v psql >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then
        want+=(postgresql-client-15)
    fi
    ((${#want[@]} == 0)) || ensure_apt "${want[@]}"
}

# ---------------------------------------------------------------- postgres --

# as_pg CMD...: run as the postgres user when we are root (initdb and
# postgres refuse to run as root), else as ourselves.
as_pg() {
    if ((EUID == 0)); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_start DIR PG_BIN [NAME [CERT KEY]]: a PostgreSQL cluster in DIR/NAME (pg);
# with CERT and KEY, ssl = on and TCP connections only over TLS.
pg_start() {
    local dir=$1 pg_bin=$2 name=${3:-pg} cert=${4:-} key=${5:-}
    local pgdir="$dir/$name"
    local data="$pgdir/data" sock="$pgdir/sock" log="$pgdir/postgres.log"
    mkdir -p "$data" "$sock"
    chmod 700 "$data"
    if [[ -n $cert ]]; then
        # the server reads its key only when it is private to it
        mkdir -p "$pgdir/tls"
        cp "$cert" "$pgdir/tls/server.crt"
        cp "$key" "$pgdir/tls/server.key"
        chmod 600 "$pgdir/tls/server.key"
    fi
    if ((EUID == 0)); then
        id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (install postgresql-15)"
        chown -R postgres: "$pgdir"
    fi

    say "initdb (PostgreSQL $("$pg_bin/postgres" -V | awk '{print $3}'))"
    if ! as_pg "$pg_bin/initdb" -D "$data" -A trust -U postgres -E UTF8 \
        --locale=C.UTF-8 --no-sync --no-instructions >"$pgdir/initdb.log" 2>&1; then
        # no C.UTF-8 locale on this system: byte order and ASCII ctype
        rm -rf "${data:?}"/*
        if ! as_pg "$pg_bin/initdb" -D "$data" -A trust -U postgres -E UTF8 \
            --no-locale --no-sync --no-instructions >"$pgdir/initdb.log" 2>&1; then
            fail_with_log "initdb failed" "$pgdir/initdb.log"
        fi
    fi

    local attempt port
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        cat >>"$data/postgresql.conf" <<EOF

# --- berth test environment (scripts/testenv.sh) ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 300
shared_buffers = 256MB
EOF
        if [[ -n $cert ]]; then
            cat >>"$data/postgresql.conf" <<EOF
shared_buffers = 64MB
ssl = on
ssl_cert_file = '$pgdir/tls/server.crt'
ssl_key_file = '$pgdir/tls/server.key'
EOF
            # TCP only over TLS: a client that does not ask for it is refused
            printf '%s\n' 'local all all trust' 'hostssl all all 127.0.0.1/32 trust' \
                'hostssl all all ::1/128 trust' >"$data/pg_hba.conf"
        fi
        say "starting PostgreSQL ($name) on 127.0.0.1:$port"
        if as_pg "$pg_bin/pg_ctl" -D "$data" -l "$log" -w -t "$PG_READY_TIMEOUT" -s start >/dev/null 2>&1; then
            break
        fi
        if grep -q 'Address already in use' "$log" 2>/dev/null && ((attempt < 5)); then
            say "port $port taken, trying another"
            continue
        fi
        fail_with_log "PostgreSQL did not start" "$log"
    done

    local deadline=$((SECONDS + PG_READY_TIMEOUT))
    until "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 2; do
        ((SECONDS < deadline)) || fail_with_log "PostgreSQL not ready after ${PG_READY_TIMEOUT}s" "$log"
        sleep 0.2
    done
    echo "$port" >"$pgdir/port"
    head -n 1 "$data/postmaster.pid" >"$pgdir/postgres.pid"
}

pg_stop() {
    local dir=$1 pg_bin=$2 name=${3:-pg}
    local data="$dir/$name/data"
    [[ -f $data/postmaster.pid ]] || return 0
    local pid
    pid=$(head -n 1 "$data/postmaster.pid")
    say "stopping PostgreSQL $name (pid $pid)"
    if ! as_pg "$pg_bin/pg_ctl" -D "$data" -m fast -w -t 30 -s stop >/dev/null 2>&1; then
        if is_proc "$pid" postgres; then
            warn "pg_ctl stop failed; killing postgres $pid"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 10 || true
        fi
    fi
}

# --------------------------------------------------------------------- tls --

# tls_certs DIR: throwaway CAs and server certificates in DIR/tls (ECDSA P-256,
# valid 7 days): ca.crt + server.{crt,key} (the test CA, trusted through
# bundle.crt), private-ca.crt + private-server.{crt,key} (a CA nobody trusts
# unless told). Server certificates name localhost and 127.0.0.1 and allow
# client auth too (a Redis Cluster node presents its certificate to the others).
tls_certs() {
    local tdir="$1/tls"
    mkdir -p "$tdir"
    chmod 755 "$tdir"
    local ext="$tdir/server.ext" ca
    printf '%s\n' 'subjectAltName = DNS:localhost, IP:127.0.0.1' \
        'basicConstraints = critical, CA:FALSE' \
        'keyUsage = critical, digitalSignature' \
        'extendedKeyUsage = serverAuth, clientAuth' >"$ext"
    for ca in "" private-; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
            -subj "/CN=berth ${ca}test CA" -keyout "$tdir/${ca}ca.key" \
            -out "$tdir/${ca}ca.crt" >"$tdir/openssl.log" 2>&1 ||
            fail_with_log "openssl: could not make the ${ca}test CA" "$tdir/openssl.log"
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=localhost" -keyout "$tdir/${ca}server.key" \
            -out "$tdir/${ca}server.csr" >"$tdir/openssl.log" 2>&1 ||
            fail_with_log "openssl: could not make a key" "$tdir/openssl.log"
        openssl x509 -req -in "$tdir/${ca}server.csr" -CA "$tdir/${ca}ca.crt" \
            -CAkey "$tdir/${ca}ca.key" -CAcreateserial -days 7 -extfile "$ext" \
            -out "$tdir/${ca}server.crt" >"$tdir/openssl.log" 2>&1 ||
            fail_with_log "openssl: could not sign a server certificate" "$tdir/openssl.log"
        chmod 644 "$tdir/${ca}server.key"
    done
    # the platform's roots plus the test CA: what SSL_CERT_FILE names in the image
    local system=/etc/ssl/certs/ca-certificates.crt
    if [[ -r $system ]]; then
        cat "$system" "$tdir/ca.crt" >"$tdir/bundle.crt"
    else
        cp "$tdir/ca.crt" "$tdir/bundle.crt"
    fi
}

# ------------------------------------------------------------------- redis --

# redis_cli [--tls] PORT USER PASSWORD ARGS...: redis-cli as USER (TLS: trusting
# the test CA of $TLS_DIR).
redis_cli() {
    local -a tlsargs=()
    if [[ $1 == --tls ]]; then
        tlsargs=(--tls --cacert "$TLS_DIR/ca.crt")
        shift
    fi
    local port=$1 user=$2 pw=$3
    shift 3
    REDISCLI_AUTH=$pw timeout 5 redis-cli --no-auth-warning "${tlsargs[@]}" -h 127.0.0.1 \
        -p "$port" --user "$user" "$@" </dev/null
}

redis_ping() { # [--tls] PORT USER PASSWORD -> 0 when an authenticated PING says PONG
    local reply
    reply=$(redis_cli "$@" ping 2>/dev/null) || return 1
    # redis-cli exits 0 on NOAUTH/WRONGPASS: check the reply itself
    [[ $reply == PONG ]]
}

# redis_users DIR: passwords for the four users of deploy/redis (DIR/redis-users/
# passwords) and the ACL file every Redis of DIR loads.
redis_users() {
    local dir=$1 server=$2
    local udir="$dir/redis-users"
    mkdir -p "$udir"
    chmod 700 "$udir"
    REDIS_KV=$(gen_password)
    REDIS_MV=$(gen_password)
    REDIS_HC=$(gen_password)
    REDIS_ADMIN=$(gen_password)
    printf 'kv=%s\nmultivac=%s\nhealthcheck=%s\nadmin=%s\n' "$REDIS_KV" "$REDIS_MV" \
        "$REDIS_HC" "$REDIS_ADMIN" >"$udir/passwords"
    chmod 600 "$udir/passwords"
    REDIS_KV_PASSWORD=$REDIS_KV REDIS_MULTIVAC_PASSWORD=$REDIS_MV \
        REDIS_HEALTHCHECK_PASSWORD=$REDIS_HC REDIS_ADMIN_PASSWORD=$REDIS_ADMIN \
        REDIS_SERVER=$server sh "$REDIS_CONF_DIR/render-acl.sh" "$udir/users.acl"
}

# redis_start DIR SERVER NAME [--tls] [ARGS...]: a redis-server from deploy/redis
# with state in DIR/NAME, on a free port (a TLS port only with --tls), daemonized;
# waits for an authenticated PONG. Sets REDIS_PORT.
redis_start() {
    local dir=$1 server=$2 name=$3
    shift 3
    local tls=""
    if [[ ${1:-} == --tls ]]; then
        tls=--tls
        shift
    fi
    local rdir="$dir/$name"
    local data="$rdir/data" log="$rdir/redis.log" pidf="$rdir/redis.pid"
    local out="$rdir/redis-start.out" acl="$dir/redis-users/users.acl"
    mkdir -p "$data"
    chmod 700 "$rdir"

    local attempt port pid="" deadline
    local -a ports
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        if [[ -n $tls ]]; then
            ports=(--port 0 --tls-port "$port" --tls-cert-file "$TLS_DIR/server.crt"
                --tls-key-file "$TLS_DIR/server.key" --tls-ca-cert-file "$TLS_DIR/ca.crt"
                --tls-auth-clients no)
        else
            ports=(--port "$port")
        fi
        rm -f "$pidf"
        say "starting Redis $("$server" --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p') ($name) on 127.0.0.1:$port${tls:+ (TLS)}"
        # errors before daemonizing (config, ACL file) go to stderr: $out
        if ! "$server" "$REDIS_CONF_DIR/redis.conf" --aclfile "$acl" --dir "$data" \
            "${ports[@]}" --bind 127.0.0.1 --daemonize yes --pidfile "$pidf" \
            --logfile "$log" "$@" </dev/null >"$out" 2>&1; then
            cat "$out" >>"$log"
            fail_with_log "redis-server failed to start" "$log"
        fi
        deadline=$((SECONDS + REDIS_READY_TIMEOUT))
        until redis_ping $tls "$port" healthcheck "$REDIS_HC"; do
            if grep -q 'Address already in use' "$log" 2>/dev/null && ((attempt < 5)); then
                say "port $port taken, trying another"
                : >"$log"
                continue 2
            fi
            # the daemonized server wrote its pid file, then died (ACL error...)
            if [[ -s $pidf ]] && ! alive "$(cat "$pidf")"; then
                fail_with_log "redis-server exited during startup" "$log"
            fi
            if ((SECONDS >= deadline)); then
                if [[ -s $pidf ]]; then
                    kill -KILL "$(cat "$pidf")" 2>/dev/null || true
                fi
                fail_with_log "Redis: no PONG for an authenticated PING after ${REDIS_READY_TIMEOUT}s" "$log"
            fi
            sleep 0.1
        done
        pid=$(cat "$pidf")
        break
    done
    [[ -n $pid ]] || fail_with_log "Redis did not start" "$log"
    echo "$port" >"$rdir/port"
    REDIS_PORT=$port
}

# redis_cluster_start DIR SERVER: three masters over TLS (clients and cluster
# bus) in DIR/redis-cluster-{1,2,3}, joined into one cluster. Sets
# REDIS_CLUSTER_PORTS.
redis_cluster_start() {
    local dir=$1 server=$2 i
    local -a nodes=()
    REDIS_CLUSTER_PORTS=()
    for i in 1 2 3; do
        redis_start "$dir" "$server" "redis-cluster-$i" --tls --cluster-enabled yes \
            --cluster-config-file nodes.conf --cluster-port "$(free_port)" --tls-cluster yes \
            --cluster-node-timeout 2000
        REDIS_CLUSTER_PORTS+=("$REDIS_PORT")
        nodes+=("127.0.0.1:$REDIS_PORT")
    done
    say "joining ${nodes[*]} into a Redis Cluster"
    local log="$dir/redis-cluster-1/cluster-create.log"
    if ! REDISCLI_AUTH=$REDIS_ADMIN timeout 60 redis-cli --no-auth-warning --tls \
        --cacert "$TLS_DIR/ca.crt" --user admin --cluster create "${nodes[@]}" \
        --cluster-yes </dev/null >"$log" 2>&1; then
        fail_with_log "redis-cli --cluster create failed" "$log"
    fi
    local deadline=$((SECONDS + REDIS_READY_TIMEOUT)) port state
    for port in "${REDIS_CLUSTER_PORTS[@]}"; do
        until state=$(redis_cli --tls "$port" admin "$REDIS_ADMIN" cluster info 2>/dev/null) &&
            [[ $state == *cluster_state:ok* ]]; do
            ((SECONDS < deadline)) || fail_with_log "the Redis Cluster is not ok after ${REDIS_READY_TIMEOUT}s" "$log"
            sleep 0.1
        done
    done
}

redis_stop() {
    local dir=$1 name=${2:-redis}
    local pidf="$dir/$name/redis.pid"
    [[ -f $pidf ]] || return 0
    local pid
    pid=$(cat "$pidf")
    if is_proc "$pid" redis-server; then
        say "stopping Redis $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 15; then
            warn "Redis $pid did not stop; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || true
        fi
    fi
    rm -f "$pidf"
}

# ----------------------------------------------------------------- up/down --

abs_dir() { # DIR -> absolute path (DIR need not exist)
    local d=$1
    [[ $d == /* ]] || d="$PWD/$d"
    echo "$d"
}

cmd_up() {
    (($# == 1)) || usage
    local dir
    dir=$(abs_dir "$1")
    if [[ -e $dir/$MARKER ]]; then
        die "$dir already holds a test environment; run: $0 down $dir"
    fi
    local pg_bin server
    pg_bin=$(pg_bin_dir)
    for p in initdb pg_ctl postgres pg_isready; do
        [[ -x $pg_bin/$p ]] || die "$pg_bin/$p missing; run: $0 ensure-packages"
    done
    server=$(command -v redis-server) || die "redis-server missing; run: $0 ensure-packages"
    command -v redis-cli >/dev/null 2>&1 || die "redis-cli missing; run: $0 ensure-packages"
    command -v openssl >/dev/null 2>&1 || die "openssl missing; run: $0 ensure-packages"

    if [[ -e $dir ]] && [[ -n $(ls -A "$dir" 2>/dev/null) ]]; then
        die "$dir exists and is not empty; give a new or empty directory"
    fi
    mkdir -p "$dir"
    # the postgres user must be able to reach its directories below DIR
    chmod 711 "$dir"
    echo "$pg_bin" >"$dir/$MARKER"

    # a failure half-way stops what was started (a global: the trap may run
    # outside this function's scope)
    UP_DIR=$dir
    trap 'rc=$?; if ((rc != 0)); then warn "up failed; cleaning up"; cmd_down "$UP_DIR" || true; fi' EXIT

    TLS_DIR="$dir/tls"
    tls_certs "$dir"
    pg_start "$dir" "$pg_bin"
    pg_start "$dir" "$pg_bin" pg-tls "$TLS_DIR/private-server.crt" "$TLS_DIR/private-server.key"
    local pg_port pg_tls_port
    pg_port=$(cat "$dir/pg/port")
    pg_tls_port=$(cat "$dir/pg-tls/port")
    redis_users "$dir" "$server"
    redis_start "$dir" "$server" redis
    local r="127.0.0.1:$REDIS_PORT"
    redis_start "$dir" "$server" redis-tls --tls
    local rt="localhost:$REDIS_PORT"
    redis_cluster_start "$dir" "$server"
    local rc="127.0.0.1:${REDIS_CLUSTER_PORTS[0]}" nodes
    nodes=$(printf '127.0.0.1:%s,' "${REDIS_CLUSTER_PORTS[@]}")
    nodes=${nodes%,}

    (
        umask 077
        {
            echo "# berth test environment, written by scripts/testenv.sh up"
            echo "# stop it with: $ROOT/scripts/testenv.sh down $dir"
            printf 'export BERTH_TEST_ENV_DIR=%q\n' "$dir"
            printf 'export BERTH_TEST_PG_URL=%q\n' "postgres://postgres@127.0.0.1:$pg_port/postgres"
            printf 'export BERTH_TEST_PG_BIN=%q\n' "$pg_bin"
            printf 'export BERTH_TEST_REDIS_URL=%q\n' "redis://kv:$REDIS_KV@$r/0"
            printf 'export BERTH_TEST_REDIS_MULTIVAC_URL=%q\n' "redis://multivac:$REDIS_MV@$r/0"
            printf 'export BERTH_TEST_REDIS_HEALTHCHECK_URL=%q\n' "redis://healthcheck:$REDIS_HC@$r/0"
            printf 'export BERTH_TEST_REDIS_ADMIN_URL=%q\n' "redis://admin:$REDIS_ADMIN@$r/0"
            printf 'export BERTH_TEST_REDIS_SERVER=%q\n' "$server"
            printf 'export BERTH_TEST_REDIS_CONF_DIR=%q\n' "$REDIS_CONF_DIR"
            printf 'export SSL_CERT_FILE=%q\n' "$TLS_DIR/bundle.crt"
            printf 'export BERTH_TEST_TLS_CA=%q\n' "$TLS_DIR/ca.crt"
            printf 'export BERTH_TEST_TLS_CERT=%q\n' "$TLS_DIR/server.crt"
            printf 'export BERTH_TEST_TLS_KEY=%q\n' "$TLS_DIR/server.key"
            printf 'export BERTH_TEST_TLS_PRIVATE_CA=%q\n' "$TLS_DIR/private-ca.crt"
            printf 'export BERTH_TEST_TLS_PRIVATE_CERT=%q\n' "$TLS_DIR/private-server.crt"
            printf 'export BERTH_TEST_TLS_PRIVATE_KEY=%q\n' "$TLS_DIR/private-server.key"
            printf 'export BERTH_TEST_PG_TLS_URL=%q\n' "postgres://postgres@localhost:$pg_tls_port/postgres"
            printf 'export BERTH_TEST_REDIS_TLS_URL=%q\n' "rediss://kv:$REDIS_KV@$rt/0"
            printf 'export BERTH_TEST_REDIS_TLS_MULTIVAC_URL=%q\n' "rediss://multivac:$REDIS_MV@$rt/0"
            printf 'export BERTH_TEST_REDIS_TLS_ADMIN_URL=%q\n' "rediss://admin:$REDIS_ADMIN@$rt/0"
            printf 'export BERTH_TEST_REDIS_CLUSTER_URL=%q\n' "rediss://kv:$REDIS_KV@$rc/0"
            printf 'export BERTH_TEST_REDIS_CLUSTER_MULTIVAC_URL=%q\n' "rediss://multivac:$REDIS_MV@$rc/0"
            printf 'export BERTH_TEST_REDIS_CLUSTER_ADMIN_URL=%q\n' "rediss://admin:$REDIS_ADMIN@$rc/0"
            printf 'export BERTH_TEST_REDIS_CLUSTER_NODES=%q\n' "$nodes"
        } >"$dir/env"
    )
    trap - EXIT
    say "test environment up: source $dir/env"
}

cmd_down() {
    (($# == 1)) || usage
    local dir
    dir=$(abs_dir "$1")
    [[ -d $dir ]] || return 0
    if [[ ! -e $dir/$MARKER ]]; then
        die "$dir is not a test environment made by '$0 up' (no $MARKER)"
    fi
    local pg_bin
    pg_bin=$(cat "$dir/$MARKER")
    [[ -n $pg_bin ]] || pg_bin=$(pg_bin_dir)
    local rc=0 name
    pg_stop "$dir" "$pg_bin" || rc=1
    pg_stop "$dir" "$pg_bin" pg-tls || rc=1
    for name in redis redis-tls redis-cluster-1 redis-cluster-2 redis-cluster-3; do
        redis_stop "$dir" "$name" || rc=1
    done
    rm -rf "${dir:?}/pg" "${dir:?}/pg-tls" "${dir:?}/redis" "${dir:?}/redis-tls" \
        "${dir:?}"/redis-cluster-[123] "${dir:?}/redis-users" "${dir:?}/tls" "${dir:?}/env"
    rm -f "${dir:?}/$MARKER"
    rmdir "$dir" 2>/dev/null || true
    return "$rc"
}

cmd_status() {
    (($# == 1)) || usage
    local dir
    dir=$(abs_dir "$1")
    [[ -f $dir/env && -f $dir/$MARKER ]] || {
        echo "no test environment in $dir"
        return 1
    }
    local pg_bin pg_port r_port name hc ok=0 tls
    pg_bin=$(cat "$dir/$MARKER")
    TLS_DIR="$dir/tls"
    for name in pg pg-tls; do
        pg_port=$(cat "$dir/$name/port" 2>/dev/null) || pg_port=0
        if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -t 2; then
            echo "PostgreSQL $name 127.0.0.1:$pg_port: up"
        else
            echo "PostgreSQL $name 127.0.0.1:$pg_port: DOWN"
            ok=1
        fi
    done
    hc=$(sed -n 's/^healthcheck=//p' "$dir/redis-users/passwords" 2>/dev/null) || hc=""
    for name in redis redis-tls redis-cluster-1 redis-cluster-2 redis-cluster-3; do
        r_port=$(cat "$dir/$name/port" 2>/dev/null) || r_port=0
        tls=--tls
        [[ $name == redis ]] && tls=""
        if redis_ping $tls "$r_port" healthcheck "$hc"; then
            echo "Redis $name 127.0.0.1:$r_port: up"
        else
            echo "Redis $name 127.0.0.1:$r_port: DOWN"
            ok=1
        fi
    done
    return "$ok"
}

# check-redis DIR: the ACL/persistence contract of deploy/redis, live.
cmd_check_redis() {
    (($# == 1)) || usage
    local dir
    dir=$(abs_dir "$1")
    local pw="$dir/redis-users/passwords"
    [[ -f $pw ]] || die "no test environment in $dir"
    local port kv mv hc admin fails=0
    port=$(cat "$dir/redis/port")
    kv=$(sed -n 's/^kv=//p' "$pw")
    mv=$(sed -n 's/^multivac=//p' "$pw")
    hc=$(sed -n 's/^healthcheck=//p' "$pw")
    admin=$(sed -n 's/^admin=//p' "$pw")
    # expect USER PASSWORD PATTERN CMD...: the reply must match PATTERN
    expect() {
        local user=$1 pw=$2 pattern=$3 got
        shift 3
        if [[ -z $user ]]; then
            got=$(redis-cli -h 127.0.0.1 -p "$port" "$@" 2>&1 </dev/null | tr '\n' ' ')
        else
            got=$(REDISCLI_AUTH=$pw redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" \
                --user "$user" "$@" 2>&1 </dev/null | tr '\n' ' ')
        fi
        if [[ $got =~ $pattern ]]; then
            printf '  ok   %-12s %-40s -> %s\n' "${user:-(none)}" "$*" "$got"
        else
            printf '  FAIL %-12s %-40s -> %s (want /%s/)\n' "${user:-(none)}" "$*" "$got" "$pattern"
            fails=$((fails + 1))
        fi
    }
    say "checking Redis ACL and persistence on 127.0.0.1:$port"
    expect "" "" '^NOAUTH' ping
    expect "" "" '^NOAUTH' get kv:x
    expect default "" 'WRONGPASS' ping
    expect kv "$kv" '^OK' set kv:check 1
    expect kv "$kv" '^1' set kv:check 2 GET
    expect kv "$kv" '^2' get kv:check
    expect kv "$kv" '^2' set kv:check 3 NX GET
    expect kv "$kv" '^ ?$' set kv:new 1 NX GET
    expect kv "$kv" '^2' get kv:check
    expect kv "$kv" '^1' exists kv:check
    expect kv "$kv" '^2' del kv:check kv:new
    expect kv "$kv" '^PONG' ping
    expect kv "$kv" '^NOPERM' get foo
    expect kv "$kv" '^NOPERM' set foo 1
    expect kv "$kv" '^NOPERM' flushall
    expect kv "$kv" '^NOPERM' config get appendfsync
    expect kv "$kv" '^NOPERM' keys '*'
    expect kv "$kv" '^NOPERM' xadd kv:s '*' a b
    expect multivac "$mv" '^[0-9]+-[0-9]+' xadd multivac:check '*' data d
    expect multivac "$mv" '^1' xlen multivac:check
    expect multivac "$mv" '^1' del multivac:check
    expect multivac "$mv" '^NOPERM' get kv:check
    expect multivac "$mv" '^NOPERM' flushall
    # a cluster client's topology reads and redirects are allowed (this server
    # is no cluster: the refusal is the server's, not the ACL's NOPERM)
    expect kv "$kv" 'cluster support disabled' cluster slots
    expect kv "$kv" 'cluster support disabled' cluster shards
    expect kv "$kv" 'cluster support disabled' asking
    expect multivac "$mv" 'cluster support disabled' cluster slots
    expect multivac "$mv" 'cluster support disabled' asking
    expect kv "$kv" '^NOPERM' cluster nodes
    expect kv "$kv" '^NOPERM' cluster meet 127.0.0.1 1
    expect healthcheck "$hc" '^PONG' ping
    expect healthcheck "$hc" '^NOPERM' get kv:check
    expect healthcheck "$hc" '^NOPERM' info
    expect admin "$admin" 'appendfsync always' config get appendfsync
    expect admin "$admin" 'appendonly yes' config get appendonly
    expect admin "$admin" 'user default off' acl list
    ((fails == 0)) || die "$fails Redis check(s) failed"
    say "Redis checks passed"
}

cmd_stop_pg() {
    (($# == 1)) || usage
    as_pg "$(pg_bin_dir)/pg_ctl" -D "$1/pg/data" -m fast -w -s stop
}

cmd_start_pg() {
    (($# == 1)) || usage
    as_pg "$(pg_bin_dir)/pg_ctl" -D "$1/pg/data" -l "$1/pg/postgres.log" -w \
        -t "$PG_READY_TIMEOUT" -s start
}

cmd_kill_redis() {
    (($# == 1)) || usage
    local pid
    pid=$(cat "$1/redis/redis.pid")
    is_proc "$pid" redis-server || die "no Redis running for $1"
    kill -KILL "$pid"
    wait_gone "$pid" 10 || die "Redis $pid did not die"
}

cmd_start_redis() {
    (($# == 1)) || usage
    local rdir=$1/redis udir=$1/redis-users port hc
    port=$(cat "$rdir/port")
    hc=$(sed -n 's/^healthcheck=//p' "$udir/passwords")
    rm -f "$rdir/redis.pid"
    "$(command -v redis-server)" "$REDIS_CONF_DIR/redis.conf" --aclfile "$udir/users.acl" \
        --dir "$rdir/data" --port "$port" --bind 127.0.0.1 --daemonize yes \
        --pidfile "$rdir/redis.pid" --logfile "$rdir/redis.log" </dev/null >/dev/null 2>&1 ||
        fail_with_log "redis-server failed to start again" "$rdir/redis.log"
    local deadline=$((SECONDS + REDIS_READY_TIMEOUT))
    until redis_ping "$port" healthcheck "$hc"; do
        ((SECONDS < deadline)) || fail_with_log "Redis did not answer after a restart" "$rdir/redis.log"
        sleep 0.1
    done
}

main() {
    (($# >= 1)) || usage
    local cmd=$1
    shift
    case $cmd in
        ensure-packages) cmd_ensure_packages "$@" ;;
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        check-redis) cmd_check_redis "$@" ;;
        stop-pg) cmd_stop_pg "$@" ;;
        start-pg) cmd_start_pg "$@" ;;
        kill-redis) cmd_kill_redis "$@" ;;
        start-redis) cmd_start_redis "$@" ;;
        free-port) free_port ;;
        -h | --help | help) usage 0 ;;
        *) usage ;;
    esac
}

main "$@"
