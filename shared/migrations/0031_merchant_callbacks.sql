-- Signed merchant callbacks (issue 16, docs/callbacks.md): the URLs a merchant registered with
-- `payctl callback add`, each event owed to one of them, and every attempt to deliver it.
--
-- Choices worth knowing:
-- - callback_endpoints.secret is the signing secret itself (`whsec_…`, shown once by payctl, never
--   listed). paygate must compute the HMAC of every delivery, so it must hold the key: storing a
--   hash of the secret instead (as api_keys does) would make that hash the key, which protects
--   nothing more. Whoever reads this table can forge callbacks: guard it as you guard the
--   database. An endpoint is never deleted (its deliveries point at it): `removed_at` ends it.
-- - order_types and event_kinds are filters; an empty array means every order type, every kind.
-- - callback_deliveries: one row per (endpoint, event message), unique, so an event delivered
--   twice by the broker is owed once. `next_attempt_at` is when the poller may send it next; a
--   poller claims due rows FOR UPDATE SKIP LOCKED and pushes next_attempt_at past the request's
--   timeout before it sends (a lease), so two pollers never send one attempt twice and a poller
--   that dies mid-send is relieved when the lease runs out. `schedule_step` is how many waits of
--   the schedule this round has used; `payctl callback resend` starts a new round.
-- - callback_attempts: evidence of every try (status, latency, response excerpt, error), never
--   updated. A succeeded delivery and its attempts are deleted together once older than
--   CALLBACK_RETENTION (compensation-scheduler's retention.rs); exhausted and pending ones are
--   kept.

CREATE TABLE callback_endpoints (
    id           text        NOT NULL,
    merchant_id  text        NOT NULL,
    url          text        NOT NULL,
    order_types  text[]      NOT NULL DEFAULT '{}',
    event_kinds  text[]      NOT NULL DEFAULT '{}',
    secret       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    removed_at   timestamptz,

    CONSTRAINT callback_endpoints_pkey PRIMARY KEY (id),
    CONSTRAINT callback_endpoints_id_form CHECK (id ~ '^cbe_[0-9a-f]{24}$'),
    CONSTRAINT callback_endpoints_url_http CHECK (url ~ '^https?://'),
    CONSTRAINT callback_endpoints_secret_form CHECK (secret ~ '^whsec_[0-9a-f]{64}$')
);

CREATE INDEX callback_endpoints_active ON callback_endpoints (merchant_id) WHERE removed_at IS NULL;

CREATE TABLE callback_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id      text        NOT NULL REFERENCES callback_endpoints (id),
    -- The event message it carries (its envelope's message_id) and what the merchant sees of it.
    message_id       uuid        NOT NULL,
    event_id         uuid        NOT NULL,
    kind             text        NOT NULL,
    payment_id       uuid        NOT NULL,
    sequence         bigint      NOT NULL,
    -- The exact bytes POSTed and signed: the event's JSON.
    body             text        NOT NULL,
    state            text        NOT NULL DEFAULT 'pending'
                                 CHECK (state IN ('pending', 'succeeded', 'exhausted')),
    attempts         integer     NOT NULL DEFAULT 0,
    schedule_step    integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,

    CONSTRAINT callback_deliveries_once UNIQUE (endpoint_id, message_id),
    CONSTRAINT callback_deliveries_pending_is_due CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
);

CREATE INDEX callback_deliveries_due ON callback_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX callback_deliveries_exhausted ON callback_deliveries (finished_at) WHERE state = 'exhausted';
CREATE INDEX callback_deliveries_succeeded ON callback_deliveries (finished_at) WHERE state = 'succeeded';

CREATE TABLE callback_attempts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id       bigint      NOT NULL REFERENCES callback_deliveries (id) ON DELETE CASCADE,
    attempt           integer     NOT NULL,
    started_at        timestamptz NOT NULL,
    latency_ms        bigint      NOT NULL,
    -- The HTTP status, when an answer came; error when none did (or why it failed otherwise).
    status            integer,
    response_excerpt  text,
    error             text,

    CONSTRAINT callback_attempts_once UNIQUE (delivery_id, attempt)
);

CREATE TRIGGER callback_attempts_append_only
    BEFORE UPDATE ON callback_attempts
    FOR EACH ROW EXECUTE FUNCTION forbid_append_only_change();
