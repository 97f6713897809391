-- Merchant policies: per merchant and currency, the rules the provider-dispatcher applies to
-- refunds (seed 003: refunds that pass an approval).
--
-- Choices worth knowing:
-- - One row per (merchant_id, currency): an approval threshold is an amount, and an amount only
--   means something in its currency (100.00 CNY and 100 JPY are not the same risk).
-- - `refund_approval_over_minor` is in minor units of `currency`. A refund whose amount is
--   STRICTLY greater needs a person's approval; NULL means no refund needs approval. 0 means
--   every refund does.
-- - `auto_refund_paid_after_close`: a payment that the provider reports paid after we closed or
--   expired it (the customer paid late) is refunded automatically when true; when false it is
--   flagged for a person.
-- - No row means the defaults: no approval threshold, no automatic refund
--   (paygate::store::policies::get).
-- - `updated_at` is maintained by the touch_updated_at trigger (0002).

CREATE TABLE merchant_policies (
    merchant_id                  text        NOT NULL,
    currency                     char(3)     NOT NULL,
    refund_approval_over_minor   bigint,
    auto_refund_paid_after_close boolean     NOT NULL DEFAULT false,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT merchant_policies_pkey PRIMARY KEY (merchant_id, currency),
    CONSTRAINT merchant_policies_merchant_not_blank CHECK (btrim(merchant_id) <> ''),
    CONSTRAINT merchant_policies_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT merchant_policies_threshold_non_negative
        CHECK (refund_approval_over_minor IS NULL OR refund_approval_over_minor >= 0)
);

CREATE TRIGGER merchant_policies_touch_updated_at BEFORE UPDATE ON merchant_policies
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
