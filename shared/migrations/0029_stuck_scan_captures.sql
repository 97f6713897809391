-- The stuck scan follows captures and voids too: a payment `capturing` or `voiding` may have
-- reached its provider (docs/architecture.md, "The authorized state"), and only the provider's
-- word ends it. The dispatcher's follow-up ladder queries it first; past the ladder the
-- compensation scheduler's stuck scan keeps asking on its schedule, as for a pay.
-- The scan's WHERE repeats this state list exactly (services/compensation-scheduler/src/scan.rs).
DROP INDEX payments_stuck_scan;
CREATE INDEX payments_stuck_scan ON payments (next_check_at)
    WHERE state IN ('pending', 'action_required', 'unknown', 'capturing', 'voiding');
