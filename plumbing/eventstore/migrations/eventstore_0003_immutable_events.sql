-- depends: eventstore_0002_hash_chain
-- Events are immutable: the application role (the tables' owner) gives up UPDATE, DELETE and TRUNCATE on
-- events, and a trigger refuses them for everyone else too (a superuser bypasses privileges, not
-- triggers). Only someone who deliberately disables the trigger can change a row, and then
-- `hub audit verify` shows where the chain breaks.

CREATE FUNCTION events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % on events refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'append a correcting event instead';
END
$$;

CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM CURRENT_USER;
