-- The hosted cashier's methods per merchant (docs/cashier.md): which provider and pay method the
-- cashier page offers a merchant's customers, in the order shown. Set with
-- `payctl cashier methods set --merchant M --provider P --method qr --method redirect`, which
-- replaces that merchant's methods of that provider; ingest reads them when a create asks for the
-- cashier and when the page lists them.
--
-- Choices worth knowing:
-- - No foreign key to a providers table: providers are configuration (PROVIDERS), not rows. A
--   method whose provider this ingest is not configured for is not offered (the page filters it).
-- - pay_method is one a customer can act on in a browser: the cashier creates an ordinary payment
--   with it. `barcode` and `direct` are not offered (they need the merchant's terminal).

CREATE TABLE cashier_methods (
    merchant_id  text        NOT NULL,
    provider     text        NOT NULL,
    pay_method   text        NOT NULL,
    position     integer     NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT cashier_methods_pkey PRIMARY KEY (merchant_id, provider, pay_method),
    CONSTRAINT cashier_methods_pay_method CHECK (pay_method IN ('redirect', 'form', 'qr', 'client_secret'))
);

CREATE INDEX cashier_methods_merchant ON cashier_methods (merchant_id, position);
