-- What a provider needs of the customer beyond the amount, from the pay command, kept with the
-- payment for the dispatcher (docs/messages.md, `command.pay`):
--
-- `auth_code`: the customer's payment code of a `barcode` payment (face to face: the till scans
-- the code on the customer's phone; Alipay `alipay.trade.pay`). It is a one-time credential, so
-- it is kept only while the pay request may have to be sent (again): in `created` (not sent yet)
-- and `pending` (sent, not answered: a redelivered dispatch sends it again under the same trade
-- number). Any other state forgets it, in the same UPDATE that moves the payment, whichever
-- writer moved it (the trigger below); a CHECK makes the rule hold even for a writer that
-- bypasses the trigger's condition. Never read back into a log or an event.
--
-- `payer`: who pays, where the provider needs it ({"openid": …, "client_ip": …}; WeChat Pay
-- JSAPI and H5). Not a credential: kept like the rest of the payment.
ALTER TABLE payments ADD COLUMN auth_code text;
ALTER TABLE payments ADD COLUMN payer jsonb;

ALTER TABLE payments ADD CONSTRAINT payments_auth_code_only_while_sendable
    CHECK (auth_code IS NULL OR state IN ('created', 'pending'));
ALTER TABLE payments ADD CONSTRAINT payments_auth_code_only_for_barcode
    CHECK (auth_code IS NULL OR pay_method = 'barcode');
ALTER TABLE payments ADD CONSTRAINT payments_payer_object
    CHECK (payer IS NULL OR jsonb_typeof(payer) = 'object');

CREATE FUNCTION payments_forget_auth_code() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.auth_code := NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER payments_forget_auth_code
    BEFORE UPDATE OF state ON payments
    FOR EACH ROW
    WHEN (NEW.auth_code IS NOT NULL AND NEW.state NOT IN ('created', 'pending'))
    EXECUTE FUNCTION payments_forget_auth_code();
