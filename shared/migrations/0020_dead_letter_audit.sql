-- Who did what to a dead-letter queue, and why (issue 17: `payctl dlq replay|purge`).
--
-- One row per dead letter acted on: replayed (republished to where it came from, with its message
-- id kept) or purged (acknowledged and dropped). Rows of one payctl invocation share `action_id`.
-- A replay row is written after the broker confirmed the republished copy and before the dead
-- letter is acknowledged, so a replay that dies half-way leaves a row for every message it
-- republished (the dead letter itself may still be in its queue: replaying it again is absorbed
-- by the consumers' inbox). A purge writes its rows before acknowledging anything.
--
-- The table is evidence, hence append-only (forbid_append_only_change, 0005).

CREATE TABLE dead_letter_audit (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action_id            uuid NOT NULL,
    action               text NOT NULL CHECK (action IN ('replay', 'purge')),
    -- An OperatorId (0017): normalised.
    operator             text NOT NULL CHECK (operator ~ '^[a-z0-9._@-]{1,64}$'),
    -- The dead-letter queue the message was taken from.
    queue                text NOT NULL,
    -- The message's id (the AMQP message_id, else the envelope's); NULL if it had none.
    message_id           text,
    message_type         text,
    order_key            text,
    -- Why it was dead-lettered, and by whom, as its headers said.
    dead_letter_reason   text,
    rejected_by          text,
    -- Where a replay republished it.
    replayed_to_exchange text,
    replayed_routing_key text,
    -- The operator's reason: required for a purge.
    reason               text CHECK (reason IS NULL OR length(btrim(reason)) > 0),
    at                   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dead_letter_audit_purge_has_reason CHECK (action <> 'purge' OR reason IS NOT NULL),
    CONSTRAINT dead_letter_audit_replay_has_target CHECK (action <> 'replay' OR replayed_to_exchange IS NOT NULL)
);

CREATE INDEX dead_letter_audit_by_message ON dead_letter_audit (message_id);
CREATE INDEX dead_letter_audit_by_queue ON dead_letter_audit (queue, at);

CREATE TRIGGER dead_letter_audit_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON dead_letter_audit
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_append_only_change();
