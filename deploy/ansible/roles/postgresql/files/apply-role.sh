#!/bin/sh
# Run deploy/postgres/roles.sql for one role (role postgresql of berth's
# Ansible) and say whether anything changed.                       (POSIX sh)
#
#   BERTH_ROLE_PASSWORD=... apply-role.sh ROLE [PORT]
#
# roles.sql is idempotent but always sets the password again (a new SCRAM
# salt), so "changed" is decided here: the role's attributes, its database's
# owner and privileges and its public schema's, read before and after the run,
# differ; or the password did not log in before the run (a new role or a new
# password). Prints CHANGED or UNCHANGED on its last line. Runs as root and
# calls psql as the postgres superuser over the local socket.
set -eu

role=$1
port=${2:-5432}
here=$(cd "$(dirname "$0")" && pwd)
[ -n "${BERTH_ROLE_PASSWORD:-}" ] || { echo "apply-role.sh: BERTH_ROLE_PASSWORD is not set" >&2; exit 1; }

as_postgres() {
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 --no-psqlrc -p "$port" "$@"
}

state() {
    as_postgres -d postgres -At -v role="$role" <<'SQL'
SELECT concat_ws(' | ',
    (SELECT concat_ws(',', rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
                      rolreplication, rolbypassrls, rolconnlimit)
       FROM pg_roles WHERE rolname = :'role'),
    (SELECT concat_ws(',', pg_get_userbyid(datdba), datacl::text)
       FROM pg_database WHERE datname = :'role'));
SQL
    if as_postgres -d postgres -At -c "SELECT 1 FROM pg_database WHERE datname = '$role'" | grep -q 1; then
        as_postgres -d "$role" -At -c \
            "SELECT concat_ws(',', pg_get_userbyid(nspowner), nspacl::text) FROM pg_namespace WHERE nspname = 'public'"
    fi
}

# Does the password log in (scram-sha-256 over TCP on localhost)?
password_ok=no
if PGPASSWORD=$BERTH_ROLE_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q --no-psqlrc -At \
    "host=127.0.0.1 port=$port dbname=$role user=$role sslmode=prefer" -c 'SELECT 1' >/dev/null 2>&1; then
    password_ok=yes
fi

before=$(state)
runuser -u postgres -- env BERTH_ROLE_PASSWORD="$BERTH_ROLE_PASSWORD" \
    psql -X -q --no-psqlrc -p "$port" -v ON_ERROR_STOP=1 -v role="$role" -f "$here/roles.sql" -d postgres
after=$(state)

if [ "$password_ok" = yes ] && [ "$before" = "$after" ]; then
    echo UNCHANGED
else
    echo CHANGED
fi
