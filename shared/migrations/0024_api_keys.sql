-- The upstream HTTP API's credentials (ingest's /v1, docs/http-api.md): per-merchant API keys and
-- the nonces of signed requests.
--
-- Choices worth knowing:
-- - api_keys: a key is an id (`pgk_…`, public, sent with every request) and a secret (`pgsk_…`,
--   shown once by `payctl api-key create`, never stored). The row keeps secret_sha256, the
--   SHA-256 of the secret, which is also the HMAC-SHA256 key requests are signed with: the secret
--   itself cannot be recovered from the database, but whoever can read this table can sign
--   requests (an HMAC needs its key on both sides); guard the table as you guard the database.
-- - A key is never deleted: `revoked_at` ends it (at once, or at a time in the future when a
--   rotation lets the old key overlap the new one). `rotated_from` links a key to the key it
--   replaced.
-- - api_nonces: each signed request's nonce, per key, kept until its timestamp leaves the window
--   (`expires_at`); a second request with the same nonce is refused as a replay. Expired rows are
--   deleted by ingest.

CREATE TABLE api_keys (
    id             text        NOT NULL,
    merchant_id    text        NOT NULL,
    secret_sha256  bytea       NOT NULL,
    label          text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    rotated_from   text,

    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_id_form CHECK (id ~ '^pgk_[0-9a-f]{24}$'),
    CONSTRAINT api_keys_secret_sha256_length CHECK (octet_length(secret_sha256) = 32),
    CONSTRAINT api_keys_rotated_from_fk FOREIGN KEY (rotated_from) REFERENCES api_keys (id)
);

CREATE INDEX api_keys_merchant ON api_keys (merchant_id, created_at);

CREATE TABLE api_nonces (
    key_id      text        NOT NULL,
    nonce       text        NOT NULL,
    expires_at  timestamptz NOT NULL,

    CONSTRAINT api_nonces_pkey PRIMARY KEY (key_id, nonce),
    CONSTRAINT api_nonces_key_fk FOREIGN KEY (key_id) REFERENCES api_keys (id)
);

CREATE INDEX api_nonces_expires_at ON api_nonces (expires_at);
