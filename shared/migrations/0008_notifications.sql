-- The inbox of raw inbound provider notifications (ARCHITECTURE.md, decision 5).
-- The webhook stores the notification exactly as received (headers and body) and acknowledges
-- only once this row is committed; verifying and applying it happen afterwards, on the order's
-- shard. A notification is a claim to verify, not a command: a forged or mismatching one is kept
-- with status 'rejected' or 'flagged' and a reason, never applied.
--
-- Choices worth knowing:
-- - UNIQUE (provider, provider_notification_id) de-duplicates the provider's retries: a repeat
--   hits notifications_provider_notification_unique and is acknowledged without a second row.
--   Use the provider's own notification/event id (Alipay notify_id, WeChat Pay id, Stripe event
--   id); where a provider has none, a hash of the raw body.
-- - payment_id/refund_id are filled in once the notification is matched to an order; a
--   notification for an order we do not know keeps them NULL and the claimed number in
--   merchant_trade_no.
-- - Status: received (stored, not yet decided), applied, ignored (genuine but changes nothing, e.g.
--   a late duplicate), rejected (failed verification: signature, timestamp, app id), flagged
--   (genuine but contradicts what we know, e.g. the amount; needs a person). Every decided
--   notification has processed_at, and every one not applied says why.

CREATE TABLE notifications (
    id                       bigint      GENERATED ALWAYS AS IDENTITY,
    provider                 text        NOT NULL,
    provider_notification_id text        NOT NULL,
    payment_id               uuid,
    refund_id                uuid,
    merchant_trade_no        text,
    headers                  jsonb       NOT NULL DEFAULT '{}',
    body                     text        NOT NULL,
    received_at              timestamptz NOT NULL DEFAULT now(),
    status                   text        NOT NULL DEFAULT 'received',
    reason                   text,
    processed_at             timestamptz,

    CONSTRAINT notifications_pkey PRIMARY KEY (id),
    CONSTRAINT notifications_provider_notification_unique
        UNIQUE (provider, provider_notification_id),
    CONSTRAINT notifications_payment_fk FOREIGN KEY (payment_id) REFERENCES payments (id),
    CONSTRAINT notifications_refund_fk FOREIGN KEY (refund_id) REFERENCES refunds (id),
    CONSTRAINT notifications_status_known
        CHECK (status IN ('received', 'rejected', 'applied', 'flagged', 'ignored')),
    CONSTRAINT notifications_processed_when_decided
        CHECK ((status = 'received') = (processed_at IS NULL)),
    CONSTRAINT notifications_reason_unless_applied
        CHECK (status IN ('received', 'applied') OR reason IS NOT NULL)
);

-- Notifications not yet decided (a backlog here is a metric and an alert).
CREATE INDEX notifications_undecided ON notifications (received_at) WHERE status = 'received';
-- An order's notifications, for its story.
CREATE INDEX notifications_by_payment ON notifications (payment_id, received_at)
    WHERE payment_id IS NOT NULL;
