-- Operator identities are normalised, and four eyes compares them as such (issue 12).
--
-- `refunds.requested_by` and `refunds.approved_by` name people; four eyes (0004,
-- refunds_approver_not_requester) compared the raw strings, so "Alice" or "alice " could approve
-- "alice"'s refund. The application now stores only normalised identities (OperatorId in
-- shared/src/domain/operator.rs: surrounding whitespace trimmed, ASCII lowercased, then 1 to 64
-- of a-z 0-9 . _ - @), and the database holds it to the same rule:
-- - refunds_requested_by_normalised, refunds_approved_by_normalised: a stored identity is already
--   in its normal form (the same pattern as OperatorId's);
-- - refunds_approver_not_requester compares the normalised forms, so even a row written around
--   the first two checks' intent cannot let one person approve their own refund.
--
-- Existing rows are normalised first. A row whose identity cannot be normalised (inner spaces,
-- non-ASCII) stops the migration with a message: which person it names is for an operator to
-- decide, not for a migration to guess. So does a past approval that the new four-eyes rule
-- refuses (the same person under two spellings): it must be looked at.

CREATE FUNCTION operator_identity_normal(identity text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(btrim(identity, E' \t\n\r\f\v'));

UPDATE refunds SET requested_by = operator_identity_normal(requested_by)
 WHERE requested_by <> operator_identity_normal(requested_by);
UPDATE refunds SET approved_by = operator_identity_normal(approved_by)
 WHERE approved_by <> operator_identity_normal(approved_by);

DO $$
DECLARE
    bad bigint;
    same bigint;
BEGIN
    SELECT count(*) INTO bad FROM refunds
     WHERE requested_by !~ '^[a-z0-9._@-]{1,64}$' OR approved_by !~ '^[a-z0-9._@-]{1,64}$';
    SELECT count(*) INTO same FROM refunds WHERE approved_by = requested_by;
    IF bad > 0 THEN
        RAISE EXCEPTION 'migration 0017: % refunds name an operator that is not an identity (1 to 64 of a-z 0-9 . _ - @ once trimmed and lowercased); correct requested_by/approved_by by hand, then migrate again', bad;
    END IF;
    IF same > 0 THEN
        RAISE EXCEPTION 'migration 0017: % refunds were approved by their requester under another spelling; review them, then migrate again', same;
    END IF;
END
$$;

ALTER TABLE refunds
    ADD CONSTRAINT refunds_requested_by_normalised CHECK (requested_by ~ '^[a-z0-9._@-]{1,64}$'),
    ADD CONSTRAINT refunds_approved_by_normalised CHECK (approved_by ~ '^[a-z0-9._@-]{1,64}$'),
    DROP CONSTRAINT refunds_approver_not_requester,
    ADD CONSTRAINT refunds_approver_not_requester CHECK (
        approved_by IS NULL
        OR operator_identity_normal(approved_by) <> operator_identity_normal(requested_by));
