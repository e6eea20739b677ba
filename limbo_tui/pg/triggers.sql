-- limbo-tui NOTIFY triggers, installed by `limbo-tui triggers install` (pg/triggers.py).
--
-- Placeholders filled by triggers.py (all validated and quoted there):
--   __DBOS_SCHEMA__  the quoted DBOS system schema, e.g. "dbos"
--   __CHANNEL__      the quoted channel literal, e.g. 'limbo_tui_dbos'
--   __VERSION__      the version tag stored in the function's comment (status: outdated)
--
-- Everything lives in limbo-tui's own schema; `triggers uninstall` removes every trace.
-- The whole script runs in one transaction under an advisory lock.
--
-- Payload (text, at most ~7900 bytes, else a bare resync notice):
--   'w|<op>|<status>|<workflow id>'        for workflow_status     (op: I, U or D)
--   'o|<op>|<function id>|<workflow id>'   for operation_outputs
--   'resync'                               something changed; reload everything
-- The workflow id comes last so that it may contain any character, '|' included.

CREATE SCHEMA IF NOT EXISTS limbo_tui;

CREATE OR REPLACE FUNCTION limbo_tui.notify_change() RETURNS trigger
LANGUAGE plpgsql
-- Fixed search_path: the function must not depend on (or be hijacked by) the writer's.
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    channel text := TG_ARGV[0];
    payload text;
    payload2 text;
BEGIN
    -- A DBOS write must never fail because of limbo-tui: every error below is swallowed.
    -- (The block is a subtransaction per row; cheap next to DBOS's own writes.)
    BEGIN
        IF TG_TABLE_NAME = 'workflow_status' THEN
            IF TG_OP = 'DELETE' THEN
                payload := 'w|D|' || coalesce(OLD.status, '') || '|' || OLD.workflow_uuid;
            ELSE
                payload := 'w|' || left(TG_OP, 1) || '|' || coalesce(NEW.status, '')
                    || '|' || NEW.workflow_uuid;
                -- A renamed primary key (never done by DBOS; ON UPDATE CASCADE allows it).
                IF TG_OP = 'UPDATE' AND OLD.workflow_uuid IS DISTINCT FROM NEW.workflow_uuid THEN
                    payload2 := 'w|D|' || coalesce(OLD.status, '') || '|' || OLD.workflow_uuid;
                END IF;
            END IF;
        ELSE
            IF TG_OP = 'DELETE' THEN
                payload := 'o|D|' || OLD.function_id || '|' || OLD.workflow_uuid;
            ELSE
                payload := 'o|' || left(TG_OP, 1) || '|' || NEW.function_id || '|'
                    || NEW.workflow_uuid;
                IF TG_OP = 'UPDATE' AND (OLD.workflow_uuid, OLD.function_id)
                        IS DISTINCT FROM (NEW.workflow_uuid, NEW.function_id) THEN
                    payload2 := 'o|D|' || OLD.function_id || '|' || OLD.workflow_uuid;
                END IF;
            END IF;
        END IF;
        -- pg_notify fails at 8000 bytes, which would abort the writer: ids of any length
        -- degrade to a bare resync notice instead.
        IF payload IS NULL OR octet_length(payload) > 7900 THEN
            payload := 'resync';
        END IF;
        IF payload2 IS NOT NULL AND octet_length(payload2) > 7900 THEN
            payload2 := 'resync';
        END IF;
        PERFORM pg_notify(channel, payload);
        IF payload2 IS NOT NULL THEN
            PERFORM pg_notify(channel, payload2);
        END IF;
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

COMMENT ON FUNCTION limbo_tui.notify_change() IS '__VERSION__';
-- DBOS may write as another role than the one installing: it must be able to reach and
-- run the function whatever its grants (PUBLIC already has EXECUTE; made explicit).
GRANT USAGE ON SCHEMA limbo_tui TO PUBLIC;
GRANT EXECUTE ON FUNCTION limbo_tui.notify_change() TO PUBLIC;
COMMENT ON SCHEMA limbo_tui IS 'limbo-tui NOTIFY triggers; remove with: limbo-tui triggers uninstall';

DROP TRIGGER IF EXISTS limbo_tui_notify ON __DBOS_SCHEMA__.workflow_status;
CREATE TRIGGER limbo_tui_notify
    AFTER INSERT OR UPDATE OR DELETE ON __DBOS_SCHEMA__.workflow_status
    FOR EACH ROW EXECUTE FUNCTION limbo_tui.notify_change(__CHANNEL__);

DROP TRIGGER IF EXISTS limbo_tui_notify ON __DBOS_SCHEMA__.operation_outputs;
CREATE TRIGGER limbo_tui_notify
    AFTER INSERT OR UPDATE OR DELETE ON __DBOS_SCHEMA__.operation_outputs
    FOR EACH ROW EXECUTE FUNCTION limbo_tui.notify_change(__CHANNEL__);
