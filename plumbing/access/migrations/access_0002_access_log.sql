-- depends: access_0001_principals_and_keys
-- Audited reads: who read which customer's card or timeline, when, through which credential.
-- Append-only: triggers refuse UPDATE, DELETE and TRUNCATE for every role but a superuser who
-- drops them (which PostgreSQL's own log then shows).
CREATE TABLE IF NOT EXISTS access_log (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                  timestamptz NOT NULL DEFAULT clock_timestamp(),
    principal_id        text NOT NULL,
    principal_kind      text NOT NULL,
    key_id              text,
    token_subject       text,
    route               text NOT NULL,
    customer_id         uuid,
    served_customer_id  uuid,
    outcome             text NOT NULL CHECK (outcome IN ('ok', 'not_found', 'hidden', 'forbidden')),
    request_id          text
);
CREATE INDEX IF NOT EXISTS access_log_customer ON access_log (customer_id, id);
CREATE INDEX IF NOT EXISTS access_log_served_customer ON access_log (served_customer_id, id);
CREATE INDEX IF NOT EXISTS access_log_principal ON access_log (principal_id, id);
CREATE INDEX IF NOT EXISTS access_log_at ON access_log (at);

CREATE OR REPLACE FUNCTION access_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE TRIGGER access_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_refuse_change();

CREATE OR REPLACE TRIGGER access_log_no_truncate
    BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_refuse_change();
