-- The upstream HTTP API's `Idempotency-Key` (docs/http-api.md): per merchant, the key, a
-- fingerprint of the request it was first used with, and the answer that request got.
--
-- The row is inserted in the same transaction as the request's effect (the payment or refund and
-- its outbox message), and the answer is written into it before that transaction commits: a
-- request with the key either committed its effect and its answer together, or neither. A second
-- request with the key waits on the first's uncommitted row (the primary key), then finds the
-- answer and gets it again; with another method, path or body it is refused. Keys are kept for a
-- day (ingest deletes older ones).

CREATE TABLE api_idempotency (
    merchant_id          text        NOT NULL,
    idempotency_key      text        NOT NULL,
    request_fingerprint  text        NOT NULL,
    response_status      smallint,
    response_body        jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT api_idempotency_pkey PRIMARY KEY (merchant_id, idempotency_key),
    CONSTRAINT api_idempotency_answer_complete CHECK ((response_status IS NULL) = (response_body IS NULL))
);

CREATE INDEX api_idempotency_created_at ON api_idempotency (created_at);
