-- At most one stuck query in flight per order (services/compensation-scheduler/src/scan.rs).
--
-- The stuck scan used to enqueue a query every time an order came due, whether or not its last
-- one had been handled. While the dispatchers fall behind (an outage, a slow provider, a backlog
-- on the shards) every stuck order is due again and again, so the scan added queries faster than
-- a backlog could drain: the chaos run saw 78,000 queries for 4,000 payments, most of them behind
-- the others in the same queues, and every one a provider call once reached.
--
-- `stuck_query_id` is the message id of the scheduler's last stuck query for the order and
-- `stuck_query_sent_at` when it was enqueued. The dispatcher's inbox (`processed_messages`) says
-- whether it was handled. Until it is, a due order gets no new query, only its next look moved on,
-- unless the query is older than the scheduler's `STUCK_QUERY_RESEND_AFTER` (a query that was
-- dead-lettered, or an inbox row retention removed, must not silence an order for ever).

ALTER TABLE payments
    ADD COLUMN stuck_query_id      uuid,
    ADD COLUMN stuck_query_sent_at timestamptz;

ALTER TABLE refunds
    ADD COLUMN stuck_query_id      uuid,
    ADD COLUMN stuck_query_sent_at timestamptz;
