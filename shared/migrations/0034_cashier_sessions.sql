-- The hosted cashier's sessions (docs/cashier.md): a create that asks for the cashier
-- (`"cashier": true`) stores what the payment will be, without its provider and pay method, and
-- answers with a signed, short-lived URL; the customer picks a method on the page, and only then
-- is the payment created, by the same pay command path as any other (ingest's commands::apply).
--
-- Choices worth knowing:
-- - One session per merchant order number (the idempotency key, as for payments): the same create
--   again answers the same session; other parameters are an idempotency conflict.
-- - `pay_template` is the pay command's JSON without `provider` and `pay_method` (and with the
--   merchant's own `return_url` removed: it is `return_url` here); the cashier adds the chosen
--   method and its own page as the provider's return URL, then parses it with the commands' parser.
-- - Single use: `chosen_provider`/`chosen_pay_method` are set once, in the transaction that creates
--   the payment (`WHERE chosen_at IS NULL`); another choice later is refused.
-- - The token is not stored: it is the session id and `token_expires_at`, signed with the server's
--   HMAC secret (CASHIER_SECRET).

CREATE TABLE cashier_sessions (
    id                  uuid        NOT NULL,
    merchant_id         text        NOT NULL,
    merchant_order_no   text        NOT NULL,
    pay_template        jsonb       NOT NULL,
    request_fingerprint text        NOT NULL,
    return_url          text,
    token_expires_at    timestamptz NOT NULL,
    chosen_provider     text,
    chosen_pay_method   text,
    chosen_at           timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT cashier_sessions_pkey PRIMARY KEY (id),
    CONSTRAINT cashier_sessions_order_unique UNIQUE (merchant_id, merchant_order_no),
    CONSTRAINT cashier_sessions_chosen_together CHECK (
        (chosen_provider IS NULL) = (chosen_pay_method IS NULL)
        AND (chosen_provider IS NULL) = (chosen_at IS NULL))
);
