-- Principals (staff members and service accounts) that authenticate with API keys, and their keys.
-- Principals of the identity provider (bearer JWTs) get their roles from the token, not from here.
CREATE TABLE IF NOT EXISTS access_principals (
    principal_id  text PRIMARY KEY CHECK (principal_id ~ '^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$'),
    kind          text NOT NULL CHECK (kind IN ('staff', 'service')),
    roles         text[] NOT NULL,
    team          text,
    channels      text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text NOT NULL
);

-- Only a SHA-256 of each key is kept: keys carry 256 random bits, so a slow KDF adds nothing.
CREATE TABLE IF NOT EXISTS access_api_keys (
    key_id        text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    principal_id  text NOT NULL REFERENCES access_principals (principal_id),
    key_sha256    bytea NOT NULL CHECK (length(key_sha256) = 32),
    scopes        text[],
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL CHECK (expires_at >= created_at),
    revoked_at    timestamptz,
    rotated_from  text REFERENCES access_api_keys (key_id),
    created_by    text NOT NULL,
    revoked_by    text
);
CREATE INDEX IF NOT EXISTS access_api_keys_principal ON access_api_keys (principal_id);
