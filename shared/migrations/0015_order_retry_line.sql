-- The messages of an order that wait on the retry ladder, in the order they must be applied
-- (docs/architecture.md, "What serialises an order").
--
-- A shard's consumer applies one order's messages one at a time, in delivery order. A message
-- sent down the retry ladder comes back behind whatever arrived meanwhile; without this line a
-- later message of the same order (a close behind its pay) would be applied first. The
-- dispatcher puts a message here when it goes down the ladder; a message of an order whose line
-- is not empty is applied only when it is the line's head, and otherwise joins the line and
-- waits on the ladder too. The head leaves the line when it is applied (or rejected). A head
-- that is dead-lettered stays: the order waits for a person to replay it (its message id is
-- kept), and its later messages follow it to the dead-letter queue rather than overtake it.
CREATE TABLE order_retry_line (
    payment_id   uuid        NOT NULL,
    message_id   uuid        NOT NULL,
    position     bigint      GENERATED ALWAYS AS IDENTITY,
    message_type text        NOT NULL,
    joined_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_retry_line_pkey PRIMARY KEY (payment_id, message_id),
    CONSTRAINT order_retry_line_payment_fkey FOREIGN KEY (payment_id) REFERENCES payments (id)
);

CREATE INDEX order_retry_line_by_position ON order_retry_line (payment_id, position);
