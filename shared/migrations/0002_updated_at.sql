-- Keeping `updated_at` true, in the database rather than in every writer.
-- Three services update payments and refunds (ingest, provider-dispatcher, compensation-scheduler);
-- a rule each of them must remember is a rule one of them will forget. This trigger function sets
-- `updated_at` to now() (the transaction's start, the same clock as the `created_at` defaults) on
-- every UPDATE of a table that attaches it, whatever the statement wrote there.
-- `version` is deliberately NOT touched here: it is the application's optimistic-concurrency and
-- history counter, and only the code that records a transition knows when it moves.

CREATE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
