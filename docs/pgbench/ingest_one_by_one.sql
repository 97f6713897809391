-- Ingest's transaction alone, one command per transaction.
\set n random(1, 2000000000)
BEGIN;
INSERT INTO processed_messages (consumer, message_id) VALUES ('ingest', gen_random_uuid()) ON CONFLICT DO NOTHING;
WITH created AS (INSERT INTO payments (id, merchant_id, merchant_order_no, provider, channel, order_type, amount_minor, currency, state, subject, return_url, expires_at, metadata, request_fingerprint)
  VALUES (gen_random_uuid(), 'merchant-1', 'order-' || :n || '-' || random(), 'mockpay', 'qr', 'goods', 10000, 'CNY', 'created', 'A subject', NULL, now() + interval '30 min', '{"k":"v"}', 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef')
  ON CONFLICT (merchant_id, merchant_order_no) DO NOTHING
  RETURNING id, merchant_id, merchant_order_no, provider, channel, order_type, amount_minor, currency::text AS currency, state, subject, return_url, expires_at, metadata, provider_txn_id, customer_action, refunded_minor, refund_in_flight_minor, request_fingerprint, flags, version, next_check_at, check_attempt, created_at, updated_at),
 recorded AS (INSERT INTO state_transitions (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
  SELECT id, NULL, 'payment', NULL, 'created', 'created', 0, gen_random_uuid(), '{}'::jsonb FROM created),
 queued AS (INSERT INTO outbox (message_id, exchange, routing_key, envelope)
  SELECT * FROM UNNEST(ARRAY[gen_random_uuid()], ARRAY['paygate.orders'], ARRAY['0190-aaaa'], ARRAY[repeat('{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}',1)]::jsonb[]) WHERE EXISTS (SELECT 1 FROM created))
SELECT id FROM created \gset
COMMIT;
