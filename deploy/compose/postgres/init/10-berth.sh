#!/bin/sh
# First start of the PostgreSQL volume only (the postgres image runs the files of
# /docker-entrypoint-initdb.d once, on an empty data directory, as the superuser
# over the local socket).
#
# The databases and roles are deploy/postgres/roles.sql, the one definition every
# deploy target runs (mounted at /etc/berth/postgres/roles.sql): one database and
# one least-privilege login role per service (users, rates, multivac).
#
# Passwords come from the compose secrets /run/secrets/postgres_<role>_password
# (written by scripts/secrets) and reach psql through its environment, never a
# command line. Sourced or executed: no `exit`, no `set -u` (the image's
# entrypoint sources it).
set -e

for role in users rates multivac; do
    echo "10-berth.sh: database and role $role"
    BERTH_ROLE_PASSWORD=$(cat "/run/secrets/postgres_${role}_password") \
        psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" \
        --dbname postgres -v role="$role" -f /etc/berth/postgres/roles.sql
done
unset role
