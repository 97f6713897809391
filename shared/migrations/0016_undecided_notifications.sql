-- Undecided notifications are swept, and the customer's return asks for at most one query per
-- order at a time (docs/architecture.md, "Notifications").
--
-- 1. The sweep (services/compensation-scheduler, `undecided.rs`). Only notify-handler forwarded
--    a stored notification, and only while the provider kept retrying: a notification stored but
--    never forwarded (the broker down longer than the provider retries, notify-handler killed
--    between the insert and the confirm) or whose forward was dead-lettered (its query back got
--    no answer down the whole ladder) stayed `received` for ever. The scheduler now forwards a
--    `received` row again once it is older than UNDECIDED_NOTIFICATION_AGE, then again after
--    doubling waits. `sweeps` counts its forwards of the row (it picks the next wait);
--    `next_sweep_at` is when it may forward it again (NULL: not swept yet, due once the row is
--    older than the age). The sweep walks `notifications_undecided` (received_at, status =
--    'received'), which holds only what is undecided: in a healthy system a handful of rows.
--
-- 2. `return_queries`: when the customer's return (`/return/<provider>/<trade no>`, unsigned and
--    open to anyone) last asked the dispatcher to query an order. notify-handler asks again only
--    once RETURN_QUERY_INTERVAL has passed since, so reloading the return page, or a script
--    hitting it, publishes at most one query per order per interval. One row per payment, upserted
--    by a statement that only moves `asked_at` forward when the interval has passed.

ALTER TABLE notifications
    ADD COLUMN sweeps        integer     NOT NULL DEFAULT 0,
    ADD COLUMN next_sweep_at timestamptz;

CREATE TABLE return_queries (
    payment_id uuid        NOT NULL,
    asked_at   timestamptz NOT NULL,
    CONSTRAINT return_queries_pkey PRIMARY KEY (payment_id),
    CONSTRAINT return_queries_payment_fkey FOREIGN KEY (payment_id) REFERENCES payments (id)
);
