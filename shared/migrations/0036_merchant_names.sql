-- The name a merchant's customers know it by, shown on the hosted cashier's pages instead of the
-- merchant id (docs/cashier.md). Set with `payctl cashier name --merchant M --name "Shop"`;
-- `--clear` removes it and the page shows the id again.
--
-- Choices worth knowing:
-- - Its own table, not a column of a merchants table: merchants are not rows here (a merchant
--   exists through its API keys, policies and cashier methods), and a missing name is normal.
-- - 1 to 100 characters with no control characters: it is printed on a customer's page (escaped
--   there too) and must fit a phone's header.

CREATE TABLE merchant_names (
    merchant_id  text        NOT NULL,
    display_name text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT merchant_names_pkey PRIMARY KEY (merchant_id),
    CONSTRAINT merchant_names_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 100),
    CONSTRAINT merchant_names_display_name_printable CHECK (display_name !~ '[[:cntrl:]]')
);
