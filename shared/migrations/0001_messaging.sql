-- The transactional outbox and the inbox of processed message ids (ARCHITECTURE.md, decision 4).
-- A state change and the messages it emits commit together; a relay publishes the outbox with
-- publisher confirms. A consumer records each message id it has applied in the same transaction
-- as the effect, so a redelivered message is recognised and only acknowledged.

CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id   uuid        NOT NULL UNIQUE,
    exchange     text        NOT NULL,
    routing_key  text        NOT NULL,
    -- The whole message envelope (broker::envelope::Envelope); headers are derived from it.
    envelope     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

-- The relay reads only what is still to publish.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE processed_messages (
    consumer     text        NOT NULL,
    message_id   uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
