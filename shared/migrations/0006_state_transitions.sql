-- The append-only history of every payment and refund: each state change the dispatcher applies
-- is recorded here in the same transaction as the change itself and the outbox message it emits
-- (ARCHITECTURE.md, decision 4), with the message that caused it.
--
-- Choices worth knowing:
-- - `version` is the entity's version after the transition. UNIQUE (entity_id, version), where
--   entity_id is the refund's id for a refund's transition and the payment's id otherwise, means a
--   transition can never be recorded twice: a redelivered message, or two writers that both read
--   version N, collide here and one of them rolls back. (UUID v7 ids of payments and refunds do
--   not collide, so one generated column serves both entities.)
-- - A refund's transition carries both ids, so a payment's whole story (its refunds included) is
--   one index range; the composite foreign key (refund_id, payment_id) makes sure the refund
--   really is that payment's.
-- - `from_state` is NULL for the creation transition.
-- - Append-only in the database: see 0005_append_only.sql.

CREATE TABLE state_transitions (
    id               bigint      GENERATED ALWAYS AS IDENTITY,
    payment_id       uuid        NOT NULL,
    refund_id        uuid,
    entity           text        NOT NULL,
    entity_id        uuid        NOT NULL GENERATED ALWAYS AS (coalesce(refund_id, payment_id)) STORED,
    from_state       text,
    to_state         text        NOT NULL,
    event            text        NOT NULL,
    version          bigint      NOT NULL,
    cause_message_id uuid,
    detail           jsonb       NOT NULL DEFAULT '{}',
    occurred_at      timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT state_transitions_pkey PRIMARY KEY (id),
    CONSTRAINT state_transitions_payment_fk FOREIGN KEY (payment_id) REFERENCES payments (id),
    CONSTRAINT state_transitions_refund_fk FOREIGN KEY (refund_id, payment_id)
        REFERENCES refunds (id, payment_id),
    CONSTRAINT state_transitions_entity_known CHECK (entity IN ('payment', 'refund')),
    CONSTRAINT state_transitions_entity_matches_refund
        CHECK ((entity = 'refund') = (refund_id IS NOT NULL)),
    CONSTRAINT state_transitions_version_non_negative CHECK (version >= 0),
    CONSTRAINT state_transitions_detail_object CHECK (jsonb_typeof(detail) = 'object'),
    CONSTRAINT state_transitions_entity_version_unique UNIQUE (entity_id, version)
);

-- An order's story, in order.
CREATE INDEX state_transitions_by_payment ON state_transitions (payment_id, id);

CREATE TRIGGER state_transitions_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON state_transitions
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_append_only_change();
