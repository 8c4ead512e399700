-- A login role that can read the snapshot database "snapshot" and write nothing in it.
-- Run as the snapshot's owner (or a superuser), connected to "snapshot", after loading it.
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
-- Large objects: PostgreSQL lets every role create them; a role default refuses it
-- (and every other write) unless a session lifts it, which the statement guard refuses.
ALTER ROLE snapshot_reader IN DATABASE snapshot SET default_transaction_read_only = on;
