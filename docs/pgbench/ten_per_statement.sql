-- The same work for ten payments per transaction, each statement writing all ten payments'
-- rows (as ingest's and the dispatcher's batches do). One pgbench transaction = ten payments.
\set n random(1, 2000000000)
BEGIN;
INSERT INTO processed_messages (consumer, message_id) SELECT 'ingest', gen_random_uuid() FROM generate_series(1,10) ON CONFLICT DO NOTHING;
WITH created AS (INSERT INTO payments (id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor, currency, state, subject, return_url, expires_at, metadata, request_fingerprint)
  SELECT gen_random_uuid(), 'merchant-1', 'order-' || :n || '-' || g || random(), 'mockpay', 'qr', 'goods', 10000, 'CNY', 'created', 'A subject', NULL, now() + interval '30 min', '{"k":"v"}', 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' FROM generate_series(1,10) g
  ON CONFLICT (merchant_id, merchant_order_no) DO NOTHING
  RETURNING id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor, currency::text AS currency, state, subject, return_url, expires_at, metadata, provider_txn_id, customer_action, refunded_minor, refund_in_flight_minor, request_fingerprint, flags, version, next_check_at, check_attempt, created_at, updated_at),
 recorded AS (INSERT INTO state_transitions (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
  SELECT id, NULL, 'payment', NULL, 'created', 'created', 0, gen_random_uuid(), '{}'::jsonb FROM created),
 queued AS (INSERT INTO outbox (message_id, exchange, routing_key, envelope)
  SELECT gen_random_uuid(), 'paygate.orders', id::text, repeat('{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}',1)::jsonb FROM created)
SELECT array_agg(id) AS ids FROM created \gset
COMMIT;
BEGIN;
INSERT INTO processed_messages (consumer, message_id) SELECT 'dispatcher', gen_random_uuid() FROM generate_series(1,10) ON CONFLICT DO NOTHING;
SELECT id, state, version FROM payments WHERE id = ANY(:ids::uuid[]) FOR NO KEY UPDATE;
INSERT INTO provider_exchanges (payment_id, refund_id, provider, operation, request_method, request_url, request_headers, request_body, response_status, response_headers, response_body, latency_us, outcome, error, unified_code, started_at)
  SELECT p, NULL, 'mockpay', 'pay', 'POST', 'http://127.0.0.1:1234/v1/pay', '{"content-type":"application/json","x-sign":"[redacted]"}', repeat('x', 400), 200, '{"content-type":"application/json"}', repeat('y', 300), 450, 'ok', NULL, 'SUCCESS', now() FROM unnest(:ids::uuid[]) p;
WITH moved AS (UPDATE payments SET state = 'succeeded', version = 2, provider_txn_id = COALESCE(provider_txn_id, 'txn-' || id), customer_action = COALESCE(NULL, customer_action) WHERE id = ANY(:ids::uuid[]) AND version = 0 RETURNING id),
 queued AS (INSERT INTO outbox (message_id, exchange, routing_key, envelope)
  SELECT gen_random_uuid(), 'paygate.events', 'payment.succeeded.goods', repeat('{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}',1)::jsonb FROM moved)
INSERT INTO state_transitions (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
  SELECT moved.id, NULL, 'payment', h.f, h.t, h.e, h.v, gen_random_uuid(), '{"code":"SUCCESS"}'::jsonb
  FROM moved, UNNEST(ARRAY['created','pending'], ARRAY['pending','succeeded'], ARRAY['submitted','provider_succeeded'], ARRAY[1,2]::bigint[]) AS h(f, t, e, v);
COMMIT;
