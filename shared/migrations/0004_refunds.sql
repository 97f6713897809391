-- Refunds: one row per merchant refund request, written before the provider is asked (pre-commit,
-- as for payments). Refunds are asynchronous at most providers and may need an approval first
-- (seed 003), hence 'awaiting_approval' and the approval columns.
--
-- Choices worth knowing:
-- - (merchant_id, refund_no) is the refund command's idempotency key; `request_fingerprint` tells
--   a replay from a conflict, exactly as for payments.
-- - The foreign key to payments is composite, (payment_id, merchant_id, currency): the database,
--   not only the application, guarantees that a refund belongs to its payment's merchant and is in
--   its payment's currency.
-- - Four eyes: whoever approves a refund must not be whoever requested it
--   (refunds_approver_not_requester). `approved_by` is only for approvals; a rejection records its
--   decision in decided_at/decision_reason (and who made it in the state_transitions detail):
--   a requester withdrawing their own request is harmless, approving it is not.
-- - The amount is capped by payments_refunds_within_amount on the payment row (the refund's
--   transaction moves the amount into payments.refund_in_flight_minor).
-- - UNIQUE (id, payment_id) exists so state_transitions can reference (refund_id, payment_id) and
--   cannot file a refund's history under another payment.
-- - `updated_at` is maintained by the touch_updated_at trigger (0002).

CREATE TABLE refunds (
    id                  uuid        NOT NULL,
    payment_id          uuid        NOT NULL,
    merchant_id         text        NOT NULL,
    refund_no           text        NOT NULL,
    amount_minor        bigint      NOT NULL,
    currency            char(3)     NOT NULL,
    state               text        NOT NULL,
    reason              text,
    requested_by        text        NOT NULL,
    approved_by         text,
    decided_at          timestamptz,
    decision_reason     text,
    provider_refund_id  text,
    request_fingerprint text        NOT NULL,
    version             bigint      NOT NULL DEFAULT 0,
    next_check_at       timestamptz,
    check_attempt       integer     NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT refunds_pkey PRIMARY KEY (id),
    CONSTRAINT refunds_merchant_refund_unique UNIQUE (merchant_id, refund_no),
    CONSTRAINT refunds_id_payment_unique UNIQUE (id, payment_id),
    CONSTRAINT refunds_payment_fk FOREIGN KEY (payment_id, merchant_id, currency)
        REFERENCES payments (id, merchant_id, currency),
    CONSTRAINT refunds_refund_no_not_blank CHECK (btrim(refund_no) <> ''),
    CONSTRAINT refunds_amount_positive CHECK (amount_minor > 0),
    CONSTRAINT refunds_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT refunds_state_known CHECK (state IN (
        'requested', 'awaiting_approval', 'submitted', 'processing', 'unknown', 'succeeded',
        'failed', 'rejected')),
    CONSTRAINT refunds_approver_not_requester
        CHECK (approved_by IS NULL OR approved_by <> requested_by),
    CONSTRAINT refunds_approval_decided CHECK (approved_by IS NULL OR decided_at IS NOT NULL),
    CONSTRAINT refunds_version_non_negative CHECK (version >= 0),
    CONSTRAINT refunds_check_attempt_non_negative CHECK (check_attempt >= 0)
);

-- A payment's refunds (the composite keys above do not lead with payment_id).
CREATE INDEX refunds_by_payment ON refunds (payment_id);

-- The stuck scan for refunds the provider has not settled yet; same reasoning as payments_stuck_scan.
CREATE INDEX refunds_stuck_scan ON refunds (next_check_at)
    WHERE state IN ('submitted', 'processing', 'unknown');

CREATE TRIGGER refunds_touch_updated_at BEFORE UPDATE ON refunds
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
