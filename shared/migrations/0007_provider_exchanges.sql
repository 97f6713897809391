-- The raw exchange log (ARCHITECTURE.md, decision 11; seed 000): every outbound request to a
-- provider and its response, linked to its order, with latency and outcome, so an operator can
-- read an order's whole story. Everything stored here is ALREADY REDACTED by the application
-- (keys, signatures, card data, personal data); the database cannot tell, so never log raw.
--
-- Choices worth knowing:
-- - Append-only in the database (0005_append_only.sql): the log is evidence.
-- - `latency_us` is microseconds: against the local simulators exchanges take well under a
--   millisecond, and milliseconds would round them all to 0.
-- - `operation` is free-form but must be a snake_case token (pay, query, refund, refund_query,
--   close, bill, settlement, confirm, capture, ...): providers differ in what they offer, and a
--   typo like 'Refund ' is still refused.
-- - `outcome` is a small closed set, decided by the adapter:
--     ok              the provider answered and accepted/answered the operation;
--     declined        the provider answered with a definitive business refusal;
--     error           the provider answered, but with an error that decides nothing (5xx, "system
--                     busy", a bad signature or an unparseable body);
--     timeout         no answer in time: the operation may or may not have happened;
--     transport_error the connection failed (refused, reset, TLS): it may or may not have arrived.
--   'ok' and 'declined' require a response status: they are answers.
-- - `unified_code` is our code from the provider's error-code table (decision 10).
-- - Retention, when needed, by partitioning on started_at and dropping partitions.

CREATE TABLE provider_exchanges (
    id               bigint      GENERATED ALWAYS AS IDENTITY,
    payment_id       uuid,
    refund_id        uuid,
    provider         text        NOT NULL,
    operation        text        NOT NULL,
    request_method   text        NOT NULL,
    request_url      text        NOT NULL,
    request_headers  jsonb       NOT NULL DEFAULT '{}',
    request_body     text,
    response_status  integer,
    response_headers jsonb,
    response_body    text,
    latency_us       bigint      NOT NULL,
    outcome          text        NOT NULL,
    error            text,
    unified_code     text,
    started_at       timestamptz NOT NULL,

    CONSTRAINT provider_exchanges_pkey PRIMARY KEY (id),
    CONSTRAINT provider_exchanges_payment_fk FOREIGN KEY (payment_id) REFERENCES payments (id),
    CONSTRAINT provider_exchanges_refund_fk FOREIGN KEY (refund_id) REFERENCES refunds (id),
    CONSTRAINT provider_exchanges_operation_token CHECK (operation ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT provider_exchanges_outcome_known
        CHECK (outcome IN ('ok', 'declined', 'error', 'timeout', 'transport_error')),
    CONSTRAINT provider_exchanges_answer_has_status
        CHECK (outcome NOT IN ('ok', 'declined') OR response_status IS NOT NULL),
    CONSTRAINT provider_exchanges_response_status_http CHECK (response_status BETWEEN 100 AND 599),
    CONSTRAINT provider_exchanges_latency_non_negative CHECK (latency_us >= 0)
);

CREATE INDEX provider_exchanges_by_payment ON provider_exchanges (payment_id, started_at);
CREATE INDEX provider_exchanges_by_refund ON provider_exchanges (refund_id, started_at)
    WHERE refund_id IS NOT NULL;

CREATE TRIGGER provider_exchanges_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON provider_exchanges
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_append_only_change();
