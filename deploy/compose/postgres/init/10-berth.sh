#!/bin/sh
# First start of the PostgreSQL volume only (the postgres image runs the files of
# /docker-entrypoint-initdb.d once, on an empty data directory, as the superuser
# over the local socket).
#
# One database per service (users, rates, multivac) and one login role per
# service with the least it needs: it owns its own database and its public schema
# (its migrations create tables there), nothing else. No role is superuser, none
# may create databases or roles, and PUBLIC may connect to none of the databases:
# the users role cannot even connect to the rates database.
#
# Passwords come from the compose secrets /run/secrets/postgres_<role>_password
# (written by scripts/secrets) and reach psql on stdin, never on a command line.
# Sourced or executed: no `exit`, no `set -u` (the image's entrypoint sources it).
set -e

for role in users rates multivac; do
    pwfile=/run/secrets/postgres_${role}_password
    pw=$(cat "$pwfile")
    case $pw in
        '' | *[!A-Za-z0-9_-]*)
            echo "10-berth.sh: $pwfile must hold [A-Za-z0-9_-] only (scripts/secrets writes such)" >&2
            false
            ;;
    esac
    echo "10-berth.sh: database and role $role"
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" --dbname postgres <<SQL
CREATE ROLE "$role" WITH LOGIN PASSWORD '$pw'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS
    CONNECTION LIMIT 50;
CREATE DATABASE "$role" OWNER "$role" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE "$role" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE "$role" TO "$role";
\connect "$role"
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO "$role";
SQL
done
unset pw pwfile role
