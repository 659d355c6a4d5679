#!/bin/sh
# Stand-in for the official postgres image's docker-entrypoint.sh, for the
# image scripts/e2e builds from Debian's postgresql-15 package (no registry
# pull is possible in CI). It keeps the parts of the official contract that
# compose.yaml relies on, so the compose file stays the one users run:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD[_FILE], POSTGRES_DB,
#   PGDATA (default /var/lib/postgresql/data), init scripts in
#   /docker-entrypoint-initdb.d (*.sh sourced, *.sql run with psql) on first start,
#   CMD "postgres" plus extra flags.
set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
export POSTGRES_USER POSTGRES_DB PGDATA
[ "${1:-postgres}" = postgres ] || exec "$@"
[ "$#" -eq 0 ] || shift

if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
fi
[ -n "${POSTGRES_PASSWORD:-}" ] || { echo "postgres-entrypoint: POSTGRES_PASSWORD[_FILE] is required" >&2; exit 1; }
export POSTGRES_PASSWORD

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    printf "host all all all scram-sha-256\n" >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -k /var/run/postgresql" start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" -d postgres \
            -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090 # the init scripts are mounted at run time
        case $f in
            *.sh) echo "postgres-entrypoint: running $f"; . "$f" ;;
            *.sql) echo "postgres-entrypoint: running $f"; psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres-entrypoint: database initialised"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql "$@"
