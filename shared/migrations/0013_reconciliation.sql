-- Reconciliation (ARCHITECTURE.md, decision 12; seeds 001 and 003): batches per provider, day and
-- kind, the provider's lines they loaded, the discrepancies found, and the append-only audit of
-- every resolution.
--
-- Choices worth knowing:
-- - payments.succeeded_at / refunds.succeeded_at: when our record first said the money moved.
--   They are stamped by a trigger on the state change itself, so the dispatcher (the only writer
--   of an order's state) needs no change and no code path can forget it; existing rows are
--   back-filled from state_transitions. Reconciliation selects "our side of a day" by them.
-- - recon_batches: one per (provider, day, kind) — a re-run reuses its batch. `lines_loaded` is
--   the resume cursor: lines are loaded in chunks, each committed together with the cursor, so a
--   run that dies resumes after the last committed chunk. `download_complete` says the whole file
--   is in. State: running, matched (no discrepancy), discrepancies, failed (with `error`).
-- - recon_lines: the provider's lines as loaded (payment_id/refund_id are our ids behind the
--   trade numbers, NULL for numbers we never issued). They are kept: a later bill's batch looks
--   at earlier ones to tell "arrived late" from "missing", and an operator reads them in disputes.
-- - recon_discrepancies: UNIQUE (batch_id, kind, subject), where subject names what it is about
--   (`txn:<provider txn id>`, `refund:<id>:<aspect>`, `payment:<id>`, `total:<currency>`), so a
--   re-run adds only what is new. `provable` marks those a query can prove (a lost success
--   notification of a payment or refund we still have unsettled); `proof_requested_at` is set
--   when the proving query was enqueued.
-- - A discrepancy is never edited silently: every change of its state is a row in
--   recon_resolutions (who, when, what action, why, the proof), append-only like the history.

ALTER TABLE payments ADD COLUMN succeeded_at timestamptz;
ALTER TABLE refunds ADD COLUMN succeeded_at timestamptz;

CREATE FUNCTION stamp_payment_succeeded_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.succeeded_at IS NULL AND NEW.state IN ('succeeded', 'partially_refunded', 'refunded') THEN
        NEW.succeeded_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION stamp_refund_succeeded_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.succeeded_at IS NULL AND NEW.state = 'succeeded' THEN
        NEW.succeeded_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER payments_stamp_succeeded_at BEFORE INSERT OR UPDATE OF state ON payments
    FOR EACH ROW EXECUTE FUNCTION stamp_payment_succeeded_at();
CREATE TRIGGER refunds_stamp_succeeded_at BEFORE INSERT OR UPDATE OF state ON refunds
    FOR EACH ROW EXECUTE FUNCTION stamp_refund_succeeded_at();

UPDATE payments p SET succeeded_at = t.at
FROM (SELECT payment_id, min(occurred_at) AS at FROM state_transitions
      WHERE entity = 'payment' AND to_state = 'succeeded' GROUP BY payment_id) t
WHERE p.id = t.payment_id AND p.succeeded_at IS NULL;
UPDATE refunds r SET succeeded_at = t.at
FROM (SELECT refund_id, min(occurred_at) AS at FROM state_transitions
      WHERE entity = 'refund' AND to_state = 'succeeded' GROUP BY refund_id) t
WHERE r.id = t.refund_id AND r.succeeded_at IS NULL;

CREATE INDEX payments_succeeded_at ON payments (provider, succeeded_at) WHERE succeeded_at IS NOT NULL;
CREATE INDEX refunds_succeeded_at ON refunds (succeeded_at) WHERE succeeded_at IS NOT NULL;

CREATE TABLE recon_batches (
    id                bigint      GENERATED ALWAYS AS IDENTITY,
    provider          text        NOT NULL,
    day               date        NOT NULL,
    kind              text        NOT NULL,
    state             text        NOT NULL,
    window_days       integer     NOT NULL,
    lines_loaded      bigint      NOT NULL DEFAULT 0,
    download_complete boolean     NOT NULL DEFAULT false,
    counts            jsonb       NOT NULL DEFAULT '{}',
    totals            jsonb       NOT NULL DEFAULT '[]',
    runs              integer     NOT NULL DEFAULT 1,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    error             text,

    CONSTRAINT recon_batches_pkey PRIMARY KEY (id),
    CONSTRAINT recon_batches_provider_day_kind_unique UNIQUE (provider, day, kind),
    CONSTRAINT recon_batches_kind_known CHECK (kind IN ('trade', 'settlement')),
    CONSTRAINT recon_batches_state_known CHECK (state IN ('running', 'matched', 'discrepancies', 'failed')),
    CONSTRAINT recon_batches_window_non_negative CHECK (window_days >= 0),
    CONSTRAINT recon_batches_cursor_non_negative CHECK (lines_loaded >= 0),
    CONSTRAINT recon_batches_failed_has_error CHECK ((state = 'failed') = (error IS NOT NULL))
);

CREATE TABLE recon_lines (
    batch_id           bigint      NOT NULL,
    line_no            bigint      NOT NULL,
    kind               text        NOT NULL,
    trade_no           text        NOT NULL,
    refund_trade_no    text,
    payment_id         uuid,
    refund_id          uuid,
    provider_txn_id    text        NOT NULL,
    provider_refund_id text,
    amount_minor       bigint      NOT NULL,
    fee_minor          bigint      NOT NULL,
    currency           text        NOT NULL,
    status             text        NOT NULL,
    succeeded          boolean     NOT NULL,
    completed_at       timestamptz NOT NULL,

    CONSTRAINT recon_lines_pkey PRIMARY KEY (batch_id, line_no),
    CONSTRAINT recon_lines_batch_fk FOREIGN KEY (batch_id) REFERENCES recon_batches (id),
    CONSTRAINT recon_lines_kind_known CHECK (kind IN ('payment', 'refund', 'bank_refund'))
);

-- "Has any bill of this provider listed this payment / refund?" (the cross-day window).
CREATE INDEX recon_lines_payment ON recon_lines (payment_id) WHERE payment_id IS NOT NULL;
CREATE INDEX recon_lines_refund ON recon_lines (refund_id) WHERE refund_id IS NOT NULL;

CREATE TABLE recon_discrepancies (
    id                 bigint      GENERATED ALWAYS AS IDENTITY,
    batch_id           bigint      NOT NULL,
    kind               text        NOT NULL,
    subject            text        NOT NULL,
    payment_id         uuid,
    refund_id          uuid,
    trade_no           text,
    provider_txn_id    text,
    ours               jsonb,
    theirs             jsonb,
    detail             text        NOT NULL,
    provable           boolean     NOT NULL DEFAULT false,
    proof_requested_at timestamptz,
    state              text        NOT NULL DEFAULT 'open',
    proof              jsonb,
    resolution         text,
    resolved_by        text,
    resolved_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT recon_discrepancies_pkey PRIMARY KEY (id),
    CONSTRAINT recon_discrepancies_batch_fk FOREIGN KEY (batch_id) REFERENCES recon_batches (id),
    CONSTRAINT recon_discrepancies_payment_fk FOREIGN KEY (payment_id) REFERENCES payments (id),
    CONSTRAINT recon_discrepancies_refund_fk FOREIGN KEY (refund_id) REFERENCES refunds (id),
    CONSTRAINT recon_discrepancies_unique UNIQUE (batch_id, kind, subject),
    CONSTRAINT recon_discrepancies_kind_known CHECK (kind IN (
        'missing_at_provider', 'missing_locally', 'amount_mismatch', 'fee_mismatch', 'status_mismatch',
        'duplicate_payment', 'refund_mismatch', 'bank_refund', 'settlement_mismatch')),
    CONSTRAINT recon_discrepancies_state_known CHECK (state IN ('open', 'auto_resolved', 'resolved')),
    CONSTRAINT recon_discrepancies_resolution_complete CHECK (
        (state = 'open') = (resolved_at IS NULL)
        AND (resolved_at IS NULL) = (resolved_by IS NULL)
        AND (resolved_at IS NULL) = (resolution IS NULL)),
    CONSTRAINT recon_discrepancies_auto_has_proof CHECK (state <> 'auto_resolved' OR proof IS NOT NULL)
);

CREATE INDEX recon_discrepancies_open ON recon_discrepancies (created_at) WHERE state = 'open';
CREATE INDEX recon_discrepancies_awaiting_proof ON recon_discrepancies (proof_requested_at)
    WHERE state = 'open' AND proof_requested_at IS NOT NULL;

CREATE TABLE recon_resolutions (
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    discrepancy_id  bigint      NOT NULL,
    from_state      text        NOT NULL,
    to_state        text        NOT NULL,
    action          text        NOT NULL,
    actor           text        NOT NULL,
    reason          text        NOT NULL,
    proof           jsonb,
    at              timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT recon_resolutions_pkey PRIMARY KEY (id),
    CONSTRAINT recon_resolutions_discrepancy_fk FOREIGN KEY (discrepancy_id) REFERENCES recon_discrepancies (id),
    CONSTRAINT recon_resolutions_action_token CHECK (action ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT recon_resolutions_actor_not_blank CHECK (btrim(actor) <> ''),
    CONSTRAINT recon_resolutions_reason_not_blank CHECK (btrim(reason) <> '')
);

CREATE INDEX recon_resolutions_by_discrepancy ON recon_resolutions (discrepancy_id, id);

CREATE TRIGGER recon_resolutions_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON recon_resolutions
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_append_only_change();
