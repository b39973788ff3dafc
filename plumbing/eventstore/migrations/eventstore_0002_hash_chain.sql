-- depends: eventstore_0001_streams_and_events
-- Tamper evidence: every event records the hash of the previous event of its stream (prev_hash) and its
-- own hash = sha256(prev_hash || content), where content is the canonical jsonb text of everything the
-- event says (position, id, stream, version, type, schema, data, metadata, recorded_at in UTC).
-- `hub audit verify` recomputes the chains and reports the first broken link.

ALTER TABLE events ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;

-- One definition of "the content of an event", used by the trigger and by the verifier alike.
CREATE FUNCTION event_content(e events) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_array(
        e.position, e.event_id, e.stream_id, e.stream_version, e.event_type, e.schema_version,
        e.data, e.metadata, to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    )::text
$$;

CREATE FUNCTION event_chain_link(previous bytea, e events) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(previous || convert_to(event_content(e), 'UTF8'))
$$;

-- The genesis link of every stream: 32 zero bytes.
CREATE FUNCTION event_chain_genesis() RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT decode(repeat('00', 32), 'hex') $$;

-- Existing events (stores created before this migration) get their chains, oldest first per stream.
DO $$
DECLARE
    r events;
    previous bytea;
    current_stream text := NULL;
BEGIN
    FOR r IN SELECT * FROM events ORDER BY stream_id, stream_version LOOP
        IF current_stream IS DISTINCT FROM r.stream_id THEN
            previous := event_chain_genesis();
            current_stream := r.stream_id;
        END IF;
        UPDATE events SET prev_hash = previous, hash = event_chain_link(previous, r)
            WHERE position = r.position;
        previous := event_chain_link(previous, r);
    END LOOP;
END
$$;

ALTER TABLE events ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;

-- New events are chained as they are inserted, whoever inserts them: the link is not the writer's job.
CREATE FUNCTION events_chain_link() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous bytea;
BEGIN
    IF NEW.stream_version = 0 THEN
        previous := event_chain_genesis();
    ELSE
        SELECT hash INTO previous FROM events
            WHERE stream_id = NEW.stream_id AND stream_version = NEW.stream_version - 1;
        IF previous IS NULL THEN
            RAISE EXCEPTION 'stream % has no event at version %', NEW.stream_id, NEW.stream_version - 1
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    NEW.prev_hash := previous;
    NEW.hash := event_chain_link(previous, NEW);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_chain_link BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_chain_link();
