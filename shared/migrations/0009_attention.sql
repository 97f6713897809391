-- The needs-attention list for operators: what automation has given up on and a person must
-- decide, e.g. a payment still 'unknown' after the last retry tier, a flagged notification, a
-- reconciliation discrepancy that the proving query could not resolve (seeds 000 and 003).
--
-- Choices worth knowing:
-- - At most one OPEN row per (subject, kind), where the subject is the refund if there is one and
--   the payment otherwise (the generated column subject_id): raising the same alarm again is
--   `INSERT ... ON CONFLICT (subject_id, kind) WHERE resolved_at IS NULL DO NOTHING`. Rows about
--   neither (e.g. a bill row with no local order) have subject_id NULL and are not de-duplicated.
-- - Resolving takes a time, a person and a written resolution, all three or none
--   (attention_resolution_complete): seed 003 asks for a written reason.
-- - `kind` is a snake_case token (e.g. unknown_after_retries, notification_flagged).

CREATE TABLE attention (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    payment_id  uuid,
    refund_id   uuid,
    subject_id  uuid        GENERATED ALWAYS AS (coalesce(refund_id, payment_id)) STORED,
    kind        text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolved_by text,
    resolution  text,

    CONSTRAINT attention_pkey PRIMARY KEY (id),
    CONSTRAINT attention_payment_fk FOREIGN KEY (payment_id) REFERENCES payments (id),
    CONSTRAINT attention_refund_fk FOREIGN KEY (refund_id) REFERENCES refunds (id),
    CONSTRAINT attention_kind_token CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT attention_detail_object CHECK (jsonb_typeof(detail) = 'object'),
    CONSTRAINT attention_resolution_complete CHECK (
        (resolved_at IS NULL) = (resolved_by IS NULL)
        AND (resolved_at IS NULL) = (resolution IS NULL))
);

CREATE UNIQUE INDEX attention_one_open_per_subject_kind ON attention (subject_id, kind)
    WHERE resolved_at IS NULL;

-- The operators' open list.
CREATE INDEX attention_open ON attention (created_at) WHERE resolved_at IS NULL;
