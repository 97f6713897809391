-- The compensation scheduler's bookkeeping (services/compensation-scheduler; docs/architecture.md,
-- "The stuck scan and the dispatcher's follow-up ladder").
--
-- `next_check_at` is the time before which nobody needs to look at a non-final order. Until now it
-- was set only when the dispatcher scheduled a follow-up query (followup.rs); an order that reached
-- a non-final state on a path without one kept NULL, and `next_check_at <= now()` is never true for
-- NULL: the stuck scan could not see it, ever. It now defaults to the creation time ("due from the
-- start; whoever schedules a look pushes it forward"), so no non-final order is invisible. The
-- scheduler still waits for the provider's first stuck threshold counted from `created_at` before
-- its first query (it defers a row that is due but younger than that), so a new order is not
-- queried early.
--
-- `stuck_checks` counts the scheduler's own stuck queries for the order: it picks the tier of the
-- provider's schedule (1m, 5m, 30m, 2h, 1d by default) for the next one. `check_attempt` stays the
-- dispatcher's follow-up ladder attempt; keeping the two counters apart means neither resets or
-- skips the other's tiers.
--
-- `expiry_close_at`: when the scheduler may ask (again) for the close of an expired unpaid payment.
-- NULL until it first asked. Without it the expiry scan would ask on every poll until the
-- dispatcher has closed the order.

ALTER TABLE payments ALTER COLUMN next_check_at SET DEFAULT now();
ALTER TABLE refunds ALTER COLUMN next_check_at SET DEFAULT now();

UPDATE payments SET next_check_at = created_at
 WHERE next_check_at IS NULL AND state IN ('created', 'pending', 'action_required', 'unknown');
UPDATE refunds SET next_check_at = created_at
 WHERE next_check_at IS NULL AND state IN ('requested', 'awaiting_approval', 'submitted', 'processing', 'unknown');

ALTER TABLE payments
    ADD COLUMN stuck_checks integer NOT NULL DEFAULT 0,
    ADD COLUMN expiry_close_at timestamptz,
    ADD CONSTRAINT payments_stuck_checks_non_negative CHECK (stuck_checks >= 0);
ALTER TABLE refunds
    ADD COLUMN stuck_checks integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT refunds_stuck_checks_non_negative CHECK (stuck_checks >= 0);

-- The expiry scan:
--   SELECT id FROM payments
--   WHERE state IN ('created', 'pending', 'action_required', 'unknown') AND expires_at <= now() ...
--   ORDER BY expires_at
-- Partial like payments_stuck_scan: it holds only unpaid payments, so the scan costs what has
-- expired unpaid, not what exists. The query must repeat this exact state list.
CREATE INDEX payments_expiry_scan ON payments (expires_at)
    WHERE state IN ('created', 'pending', 'action_required', 'unknown');

-- No index serves the age of the oldest non-final payment (the scheduler's gauge): a partial
-- index on created_at over the non-final states would also be a candidate for the stuck scan
-- (its predicate is implied by the scan's), and on small tables the planner took it over
-- payments_stuck_scan. The gauge reads payments_expiry_scan's rows instead, every 30 s.
