-- A login role that can read the snapshot database "snapshot" and write nothing in it.
-- Run as a superuser, connected to "snapshot", after loading it.
CREATE ROLE snapshot_reader LOGIN PASSWORD 'change-me' NOSUPERUSER NOCREATEDB NOCREATEROLE;
-- Reading: connect, see the schema, SELECT every table and sequence.
GRANT CONNECT ON DATABASE snapshot TO snapshot_reader;
GRANT USAGE ON SCHEMA public TO snapshot_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO snapshot_reader;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO snapshot_reader;
-- Nothing else: PUBLIC may not create objects in the database or its schemas
-- (PostgreSQL < 15 lets PUBLIC create tables in "public").
REVOKE CREATE ON DATABASE snapshot FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- Large objects: PostgreSQL lets every role create them (version 15 even in a read-only
-- transaction). Revoke the functions that create them in this database (a superuser
-- must run this line: they belong to pg_catalog).
REVOKE EXECUTE ON FUNCTION pg_catalog.lo_creat(integer), pg_catalog.lo_create(oid),
    pg_catalog.lo_from_bytea(oid, bytea) FROM PUBLIC;
-- Every other write is refused by the privileges above; this role default makes the
-- refusals say "read-only transaction" (a session may lift it, the privileges stay).
ALTER ROLE snapshot_reader IN DATABASE snapshot SET default_transaction_read_only = on;
