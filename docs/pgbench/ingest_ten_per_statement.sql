-- Ingest's transaction for ten commands, each statement writing all ten (ingest's batches).
-- One pgbench transaction = ten payments.
\set n random(1, 2000000000)
BEGIN;
INSERT INTO processed_messages (consumer, message_id) SELECT 'ingest', gen_random_uuid() FROM generate_series(1,10) ON CONFLICT DO NOTHING;
WITH created AS (INSERT INTO payments (id, merchant_id, merchant_order_no, provider, channel, order_type, amount_minor, currency, state, subject, return_url, expires_at, metadata, request_fingerprint)
  SELECT gen_random_uuid(), 'merchant-1', 'order-' || :n || '-' || g || random(), 'mockpay', 'qr', 'goods', 10000, 'CNY', 'created', 'A subject', NULL, now() + interval '30 min', '{"k":"v"}', 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' FROM generate_series(1,10) g
  ON CONFLICT (merchant_id, merchant_order_no) DO NOTHING
  RETURNING id, merchant_id, merchant_order_no, provider, channel, order_type, amount_minor, currency::text AS currency, state, subject, return_url, expires_at, metadata, provider_txn_id, customer_action, refunded_minor, refund_in_flight_minor, request_fingerprint, flags, version, next_check_at, check_attempt, created_at, updated_at),
 recorded AS (INSERT INTO state_transitions (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
  SELECT id, NULL, 'payment', NULL, 'created', 'created', 0, gen_random_uuid(), '{}'::jsonb FROM created),
 queued AS (INSERT INTO outbox (message_id, exchange, routing_key, envelope)
  SELECT gen_random_uuid(), 'paygate.orders', id::text, repeat('{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}',1)::jsonb FROM created)
SELECT array_agg(id) AS ids FROM created \gset
COMMIT;
