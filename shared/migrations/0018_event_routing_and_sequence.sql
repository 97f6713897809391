-- Where an order's events go, and the order they go in (docs/messages.md, "Replies" and
-- "Sequence").
--
-- `reply_to` and `correlation_id`: the queue and correlation id of the command that created the
-- payment (or refund), stored with it at pre-commit. Every event of the payment goes to that
-- `reply_to` with that correlation id, whatever message decided it: a provider notification, a
-- follow-up query, a scheduler's close. (Before, such an event carried the deciding message's id
-- as correlation id and reached only the events exchange.) The correlation id is the command's
-- own, or its message id when it had none. NULL on rows created before this migration: their
-- events are correlated as before.
--
-- `event_sequence`: the number of the payment's last event (payment.* and refund.*). The
-- dispatcher numbers each event it puts in the outbox with the next one, and stores the number
-- in the same transaction, under the payment's row lock: gap-free and monotonic per order, and a
-- crash loses no number (the event and its number commit or roll back together).
ALTER TABLE payments
    ADD COLUMN reply_to       text,
    ADD COLUMN correlation_id text,
    ADD COLUMN event_sequence bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT payments_event_sequence_check CHECK (event_sequence >= 0);

ALTER TABLE refunds
    ADD COLUMN reply_to       text,
    ADD COLUMN correlation_id text;
