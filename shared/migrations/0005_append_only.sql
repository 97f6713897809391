-- Append-only tables, enforced by the database rather than by convention.
-- History (state_transitions) and the raw exchange log (provider_exchanges) are evidence: an
-- operator, an auditor or a dispute reads an order's story from them, so no code path may rewrite
-- or remove a row. Tables attach this function as a statement-level BEFORE UPDATE OR DELETE OR
-- TRUNCATE trigger; any such statement fails, even one that would touch no row.
--
-- The error is SQLSTATE 23001 (restrict_violation, an integrity-constraint class) with the table
-- in the message and in the TABLE field, and `<table>_append_only` in the CONSTRAINT field, so the
-- application maps it like any named constraint (paygate::db::ConstraintViolation).
--
-- Deliberate escape hatches, for a superuser or the table owner only: DROP TABLE, ALTER TABLE ...
-- DISABLE TRIGGER, and session_replication_role = replica. Retention of the exchange log, when it
-- is needed, should come from partitioning by time and dropping old partitions, not from DELETE.

CREATE FUNCTION forbid_append_only_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              SCHEMA = TG_TABLE_SCHEMA,
              TABLE = TG_TABLE_NAME,
              CONSTRAINT = TG_TABLE_NAME || '_append_only',
              HINT = 'Record a new row instead of changing or removing an old one.';
END
$$;
