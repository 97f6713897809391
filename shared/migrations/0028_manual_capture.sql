-- Authorise now, capture later (docs/architecture.md, "The authorized state"; docs/messages.md,
-- `command.capture`, `command.void`).
--
-- `capture_mode`: the pay command's `capture`, `automatic` (taken when the customer pays, as
-- every payment before this migration) or `manual` (authorised; taken by a capture).
-- New states: `authorized` (the provider holds the customer's money uncaptured), `capturing` and
-- `voiding` (a capture or void of it may have reached the provider), `voided` (released without
-- a capture; final).
-- `authorized_at`: when the payment first became authorised (stamped by the trigger below,
-- whichever writer moved it): the authorisation expiry scan counts from it.
-- `capture_requested_minor`: the amount of the capture the dispatcher committed before it sent
-- it (the attempt, "may have been sent"); a redelivered capture sends the same amount again.
-- `captured_minor`: the amount the provider took, once captured; NULL for an automatic payment
-- (its captured amount is its amount). Refunds apply to the captured amount only: the refund
-- check below uses it.
ALTER TABLE payments ADD COLUMN capture_mode text NOT NULL DEFAULT 'automatic';
ALTER TABLE payments ADD COLUMN authorized_at timestamptz;
ALTER TABLE payments ADD COLUMN capture_requested_minor bigint;
ALTER TABLE payments ADD COLUMN captured_minor bigint;

ALTER TABLE payments ADD CONSTRAINT payments_capture_mode_known
    CHECK (capture_mode IN ('automatic', 'manual'));
ALTER TABLE payments ADD CONSTRAINT payments_capture_within_amount
    CHECK ((capture_requested_minor IS NULL OR (capture_requested_minor > 0 AND capture_requested_minor <= amount_minor))
       AND (captured_minor IS NULL OR (captured_minor > 0 AND captured_minor <= amount_minor)));
ALTER TABLE payments ADD CONSTRAINT payments_capture_only_when_manual
    CHECK (capture_mode = 'manual' OR (capture_requested_minor IS NULL AND captured_minor IS NULL));

ALTER TABLE payments DROP CONSTRAINT payments_state_known;
ALTER TABLE payments ADD CONSTRAINT payments_state_known CHECK (state IN (
    'created', 'pending', 'action_required', 'unknown', 'succeeded', 'failed', 'closed',
    'expired', 'partially_refunded', 'refunded', 'authorized', 'capturing', 'voiding', 'voided'));

ALTER TABLE payments DROP CONSTRAINT payments_refunds_within_amount;
ALTER TABLE payments ADD CONSTRAINT payments_refunds_within_amount
    CHECK (refunded_minor + refund_in_flight_minor <= COALESCE(captured_minor, amount_minor));
-- Nothing of an authorisation is refundable before it is captured.
ALTER TABLE payments ADD CONSTRAINT payments_manual_refunds_only_when_captured
    CHECK (capture_mode = 'automatic' OR captured_minor IS NOT NULL
           OR (refunded_minor = 0 AND refund_in_flight_minor = 0));

CREATE FUNCTION stamp_payment_authorized_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.authorized_at IS NULL AND NEW.state = 'authorized' THEN
        NEW.authorized_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER payments_stamp_authorized_at BEFORE UPDATE OF state ON payments
    FOR EACH ROW EXECUTE FUNCTION stamp_payment_authorized_at();

-- The compensation scheduler's authorisation expiry scan:
--   WHERE state = 'authorized' AND authorized_at <= $1 ORDER BY authorized_at LIMIT n
CREATE INDEX payments_authorization_expiry ON payments (provider, authorized_at) WHERE state = 'authorized';
