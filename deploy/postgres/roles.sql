-- berth's PostgreSQL databases and roles: the one definition every deploy target
-- runs (compose's init script, the Helm dev profile, the Ansible role, the AWS
-- one-shot task). Idempotent: run it again and nothing changes but the password.
--
-- One database per service and one login role per service with the least it needs:
-- the role owns its database and that database's public schema (its migrations
-- create tables there), nothing else. No role is superuser, none may create
-- databases or roles, and PUBLIC may connect to none of the databases: the users
-- role cannot even connect to the rates database.
--
--   BERTH_ROLE_PASSWORD=... psql -v ON_ERROR_STOP=1 -v role=users -f roles.sql
--
-- as a superuser, or as a managed database's admin (RDS: a member of
-- rds_superuser; the script grants the new role to the admin, which PostgreSQL
-- requires of a non-superuser before it may create a database owned by that role).
-- The password comes from the environment (psql 15's \getenv), never from a
-- command line where `ps` would show it. psql 15 or later.

\set ON_ERROR_STOP on
SET client_min_messages = error;
\getenv password BERTH_ROLE_PASSWORD
SELECT :'role' ~ '^[a-z][a-z0-9_]{0,62}$' AS role_ok \gset
\if :role_ok
\else
    DO $$ BEGIN RAISE EXCEPTION 'roles.sql: -v role=NAME must be a lower-case identifier'; END $$;
\endif
SELECT coalesce(length(:'password'), 0) >= 16 AS password_ok \gset
\if :password_ok
\else
    DO $$ BEGIN RAISE EXCEPTION 'roles.sql: BERTH_ROLE_PASSWORD must be set, 16 characters or more'; END $$;
\endif

-- Created NOSUPERUSER NOREPLICATION NOBYPASSRLS (a managed database's admin may not
-- even name those attributes, so they are set at creation, where they are defaults).
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOREPLICATION NOBYPASSRLS', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password' NOCREATEDB NOCREATEROLE
    CONNECTION LIMIT 50;
SELECT format('GRANT %I TO %I', :'role', current_user)
 WHERE NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'role', :'role', 'UTF8')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'role') \gexec
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"role" TO :"role";
\connect :"role"
-- As the database's owner, which owns its public schema (pg_database_owner) even
-- where the admin is no superuser; the role gets NOINHERIT only after this step, as
-- a NOINHERIT owner does not use its implicit membership of pg_database_owner.
SET client_min_messages = error;
SET ROLE :"role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"role";
RESET ROLE;
ALTER ROLE :"role" NOINHERIT;
