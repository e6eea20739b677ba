-- limbo-tui NOTIFY triggers, installed by `limbo-tui triggers install` (pg/triggers.py).
--
-- Placeholders filled by triggers.py (all validated and quoted there):
--   __DBOS_SCHEMA__  the quoted DBOS system schema, e.g. "dbos"
--   __CHANNEL__      the quoted channel literal, e.g. 'limbo_tui_dbos'
--   __VERSION__      the version tag stored in the function's comment (status: outdated)
--   __QUEUE_LIMIT__  pg_notification_queue_usage() above which nothing is sent
--
-- Everything lives in limbo-tui's own schema; `triggers uninstall` removes every trace.
-- The whole script runs in one transaction under an advisory lock and a short
-- lock_timeout (triggers.py retries).
--
-- One notification per statement, not per row (statement triggers with transition
-- tables); a statement that touched no row sends nothing. NOTIFY folds identical
-- payloads within a transaction. Payload (text, at most 7900 bytes, else 'resync'):
--   'w|<op>|<status>|<workflow id>'        one workflow_status row     (op: I, U or D)
--   'o|<op>|<function id>|<workflow id>'   one operation_outputs row
--   'n|' then entries 'w<len>:<id>' or 'o<function id>,<len>:<id>'   several rows
--   'resync'                               something changed; reload everything
-- The workflow id comes last (or length-prefixed) so that it may contain any character.
--
-- Above __QUEUE_LIMIT__ of the server's NOTIFY queue (a listener somewhere stopped
-- reading and holds its tail) the triggers send nothing: a full queue would make every
-- COMMIT on the server fail. limbo-tui sees the same usage and polls meanwhile.

CREATE SCHEMA IF NOT EXISTS limbo_tui;

CREATE OR REPLACE FUNCTION limbo_tui.notify_rows() RETURNS trigger
LANGUAGE plpgsql
-- Fixed search_path: the function must not depend on (or be hijacked by) the writer's.
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    channel text := TG_ARGV[0];
    op text := left(TG_OP, 1);
    n bigint;
    one text;
    many text;
    payload text;
BEGIN
    -- A DBOS write must never fail because of limbo-tui: every error below is swallowed.
    BEGIN
        IF pg_notification_queue_usage() >= __QUEUE_LIMIT__ THEN
            RETURN NULL;
        END IF;
        IF TG_TABLE_NAME = 'workflow_status' THEN
            IF TG_OP = 'INSERT' THEN
                SELECT count(*), min(coalesce(r.status, '') || '|' || r.workflow_uuid),
                       string_agg('w' || length(r.workflow_uuid) || ':' || r.workflow_uuid, '')
                  INTO n, one, many FROM new_rows r;
            ELSIF TG_OP = 'DELETE' THEN
                SELECT count(*), min(coalesce(r.status, '') || '|' || r.workflow_uuid),
                       string_agg('w' || length(r.workflow_uuid) || ':' || r.workflow_uuid, '')
                  INTO n, one, many FROM old_rows r;
            ELSE
                -- Old ids too: a renamed primary key (never done by DBOS) is a delete.
                SELECT count(*), min(coalesce(u.status, '') || '|' || u.wid),
                       string_agg('w' || length(u.wid) || ':' || u.wid, '')
                  INTO n, one, many
                  FROM (SELECT DISTINCT ON (wid) wid, status FROM (
                          SELECT r.workflow_uuid AS wid, r.status, 0 AS o FROM new_rows r
                          UNION ALL
                          SELECT r.workflow_uuid, r.status, 1 FROM old_rows r) AS b
                        ORDER BY wid, o) AS u;
            END IF;
            one := 'w|' || op || '|' || one;
        ELSE
            IF TG_OP = 'INSERT' THEN
                SELECT count(*), min(r.function_id || '|' || r.workflow_uuid),
                       string_agg('o' || r.function_id || ',' || length(r.workflow_uuid)
                                  || ':' || r.workflow_uuid, '')
                  INTO n, one, many FROM new_rows r;
            ELSIF TG_OP = 'DELETE' THEN
                SELECT count(*), min(r.function_id || '|' || r.workflow_uuid),
                       string_agg('o' || r.function_id || ',' || length(r.workflow_uuid)
                                  || ':' || r.workflow_uuid, '')
                  INTO n, one, many FROM old_rows r;
            ELSE
                SELECT count(*), min(u.fid || '|' || u.wid),
                       string_agg('o' || u.fid || ',' || length(u.wid) || ':' || u.wid, '')
                  INTO n, one, many
                  FROM (SELECT r.workflow_uuid AS wid, r.function_id AS fid FROM new_rows r
                        UNION
                        SELECT r.workflow_uuid, r.function_id FROM old_rows r) AS u;
            END IF;
            one := 'o|' || op || '|' || one;
        END IF;
        IF n = 0 THEN
            RETURN NULL;
        END IF;
        payload := CASE WHEN n = 1 THEN one ELSE 'n|' || many END;
        -- pg_notify fails at 8000 bytes, which would abort the writer: ids of any length
        -- degrade to a bare resync notice instead.
        IF payload IS NULL OR octet_length(payload) > 7900 THEN
            payload := 'resync';
        END IF;
        PERFORM pg_notify(channel, payload);
    EXCEPTION WHEN OTHERS THEN
        BEGIN
            PERFORM pg_notify(channel, 'resync');
        EXCEPTION WHEN OTHERS THEN
            NULL;  -- not even a resync could be sent; the write itself must still go on
        END;
    END;
    RETURN NULL;  -- AFTER trigger: the result is ignored
END;
$fn$;

COMMENT ON FUNCTION limbo_tui.notify_rows() IS '__VERSION__';
-- DBOS may write as another role than the one installing: it must be able to reach and
-- run the function whatever its grants (PUBLIC already has EXECUTE; made explicit).
GRANT USAGE ON SCHEMA limbo_tui TO PUBLIC;
GRANT EXECUTE ON FUNCTION limbo_tui.notify_rows() TO PUBLIC;
COMMENT ON SCHEMA limbo_tui IS 'limbo-tui NOTIFY triggers; remove with: limbo-tui triggers uninstall';

-- What an earlier build installed (v1: one row trigger per table).
DROP TRIGGER IF EXISTS limbo_tui_notify ON __DBOS_SCHEMA__.workflow_status;
DROP TRIGGER IF EXISTS limbo_tui_notify ON __DBOS_SCHEMA__.operation_outputs;
DROP FUNCTION IF EXISTS limbo_tui.notify_change();

DROP TRIGGER IF EXISTS limbo_tui_notify_ins ON __DBOS_SCHEMA__.workflow_status;
CREATE TRIGGER limbo_tui_notify_ins AFTER INSERT ON __DBOS_SCHEMA__.workflow_status
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION limbo_tui.notify_rows(__CHANNEL__);
DROP TRIGGER IF EXISTS limbo_tui_notify_upd ON __DBOS_SCHEMA__.workflow_status;
CREATE TRIGGER limbo_tui_notify_upd AFTER UPDATE ON __DBOS_SCHEMA__.workflow_status
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION limbo_tui.notify_rows(__CHANNEL__);
DROP TRIGGER IF EXISTS limbo_tui_notify_del ON __DBOS_SCHEMA__.workflow_status;
CREATE TRIGGER limbo_tui_notify_del AFTER DELETE ON __DBOS_SCHEMA__.workflow_status
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION limbo_tui.notify_rows(__CHANNEL__);

DROP TRIGGER IF EXISTS limbo_tui_notify_ins ON __DBOS_SCHEMA__.operation_outputs;
CREATE TRIGGER limbo_tui_notify_ins AFTER INSERT ON __DBOS_SCHEMA__.operation_outputs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION limbo_tui.notify_rows(__CHANNEL__);
DROP TRIGGER IF EXISTS limbo_tui_notify_upd ON __DBOS_SCHEMA__.operation_outputs;
CREATE TRIGGER limbo_tui_notify_upd AFTER UPDATE ON __DBOS_SCHEMA__.operation_outputs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION limbo_tui.notify_rows(__CHANNEL__);
DROP TRIGGER IF EXISTS limbo_tui_notify_del ON __DBOS_SCHEMA__.operation_outputs;
CREATE TRIGGER limbo_tui_notify_del AFTER DELETE ON __DBOS_SCHEMA__.operation_outputs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION limbo_tui.notify_rows(__CHANNEL__);
