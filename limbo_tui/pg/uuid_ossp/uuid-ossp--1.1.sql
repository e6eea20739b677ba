-- limbo-tui's SQL-only uuid-ossp: the version 4 generator and the constants.
-- uuid_generate_v1, v1mc, v3 and v5 are absent: they need the C module.

\echo Use "CREATE EXTENSION ""uuid-ossp""" to load this file. \quit

CREATE FUNCTION uuid_generate_v4() RETURNS uuid
    AS 'SELECT pg_catalog.gen_random_uuid()' LANGUAGE sql VOLATILE PARALLEL SAFE;

CREATE FUNCTION uuid_nil() RETURNS uuid
    AS $$SELECT '00000000-0000-0000-0000-000000000000'::uuid$$
    LANGUAGE sql IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION uuid_ns_dns() RETURNS uuid
    AS $$SELECT '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid$$
    LANGUAGE sql IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION uuid_ns_url() RETURNS uuid
    AS $$SELECT '6ba7b811-9dad-11d1-80b4-00c04fd430c8'::uuid$$
    LANGUAGE sql IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION uuid_ns_oid() RETURNS uuid
    AS $$SELECT '6ba7b812-9dad-11d1-80b4-00c04fd430c8'::uuid$$
    LANGUAGE sql IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION uuid_ns_x500() RETURNS uuid
    AS $$SELECT '6ba7b814-9dad-11d1-80b4-00c04fd430c8'::uuid$$
    LANGUAGE sql IMMUTABLE PARALLEL SAFE;
