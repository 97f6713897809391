-- A refund at a provider that keeps no refund number of ours (LINE Pay: no idempotency key) is
-- sent again only on proof that the provider has no record of it: a query that found none. The
-- proof is recorded here with the query's answer and taken (cleared) in the transaction that
-- commits the repeated attempt, before the request leaves: one proof, one send
-- (services/provider-dispatcher/src/work/refund/send.rs).
ALTER TABLE refunds ADD COLUMN absence_proven boolean NOT NULL DEFAULT false;
