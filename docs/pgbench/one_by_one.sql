-- A payment's PostgreSQL work as paygate did it one message at a time: ingest's transaction
-- (inbox row; payment + first history row + dispatch in one statement), then the dispatcher's
-- (inbox row, row lock, exchange log row, steps + history + event in one statement).
\set n random(1, 2000000000)
BEGIN;
INSERT INTO processed_messages (consumer, message_id) VALUES ('ingest', gen_random_uuid()) ON CONFLICT DO NOTHING;
WITH created AS (INSERT INTO payments (id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor, currency, state, subject, return_url, expires_at, metadata, request_fingerprint)
  VALUES (gen_random_uuid(), 'merchant-1', 'order-' || :n || '-' || random(), 'mockpay', 'qr', 'goods', 10000, 'CNY', 'created', 'A subject', NULL, now() + interval '30 min', '{"k":"v"}', 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef')
  ON CONFLICT (merchant_id, merchant_order_no) DO NOTHING
  RETURNING id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor, currency::text AS currency, state, subject, return_url, expires_at, metadata, provider_txn_id, customer_action, refunded_minor, refund_in_flight_minor, request_fingerprint, flags, version, next_check_at, check_attempt, created_at, updated_at),
 recorded AS (INSERT INTO state_transitions (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
  SELECT id, NULL, 'payment', NULL, 'created', 'created', 0, gen_random_uuid(), '{}'::jsonb FROM created),
 queued AS (INSERT INTO outbox (message_id, exchange, routing_key, envelope)
  SELECT * FROM UNNEST(ARRAY[gen_random_uuid()], ARRAY['paygate.orders'], ARRAY['0190-aaaa'], ARRAY[repeat('{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}',1)]::jsonb[]) WHERE EXISTS (SELECT 1 FROM created))
SELECT id FROM created \gset
COMMIT;
BEGIN;
INSERT INTO processed_messages (consumer, message_id) VALUES ('dispatcher', gen_random_uuid()) ON CONFLICT DO NOTHING;
SELECT id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor, currency::text AS currency, state, subject, return_url, expires_at, metadata, provider_txn_id, customer_action, refunded_minor, refund_in_flight_minor, request_fingerprint, flags, version, next_check_at, check_attempt, created_at, updated_at FROM payments WHERE id = :id FOR NO KEY UPDATE;
INSERT INTO provider_exchanges (payment_id, refund_id, provider, operation, request_method, request_url, request_headers, request_body, response_status, response_headers, response_body, latency_us, outcome, error, unified_code, started_at)
  VALUES (:id, NULL, 'mockpay', 'pay', 'POST', 'http://127.0.0.1:1234/v1/pay', '{"content-type":"application/json","x-sign":"[redacted]"}', repeat('x', 400), 200, '{"content-type":"application/json"}', repeat('y', 300), 450, 'ok', NULL, 'SUCCESS', now()) RETURNING id;
WITH moved AS (UPDATE payments SET state = 'succeeded', version = 2, provider_txn_id = COALESCE(provider_txn_id, 'txn-' || :n), customer_action = COALESCE(NULL, customer_action) WHERE id = :id AND version = 0 RETURNING 1),
 queued AS (INSERT INTO outbox (message_id, exchange, routing_key, envelope)
  SELECT * FROM UNNEST(ARRAY[gen_random_uuid()], ARRAY['paygate.events'], ARRAY['payment.succeeded.goods'], ARRAY[repeat('{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}',1)]::jsonb[]) WHERE EXISTS (SELECT 1 FROM moved))
INSERT INTO state_transitions (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
  SELECT h.payment_id, NULL, 'payment', h.f, h.t, h.e, h.v, gen_random_uuid(), '{"code":"SUCCESS"}'::jsonb
  FROM moved, UNNEST(ARRAY[:id::uuid, :id::uuid], ARRAY['created','pending'], ARRAY['pending','succeeded'], ARRAY['submitted','provider_succeeded'], ARRAY[1,2]::bigint[]) AS h(payment_id, f, t, e, v) ORDER BY h.v;
COMMIT;
