-- What the customer must do to pay (redirect URL, form, QR code or client secret), as the
-- provider gave it, in the unified shape of messages::events::CustomerAction. Kept on the
-- payment so that a re-emitted `payment.action_required` (after a duplicate command or a query)
-- carries the same action as the first.
ALTER TABLE payments ADD COLUMN customer_action jsonb;
ALTER TABLE payments ADD CONSTRAINT payments_customer_action_object
    CHECK (customer_action IS NULL OR jsonb_typeof(customer_action) = 'object');
