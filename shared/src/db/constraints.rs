//! The names of the schema's constraints and unique indexes that the application reacts to.
//!
//! PostgreSQL reports the violated constraint by name; matching on these constants rather than on
//! string literals keeps a rename in a migration from silently breaking, say, idempotent replay.
//! `shared/tests/schema.rs` checks that every name here exists in the migrated schema.

/// `payments (merchant_id, merchant_order_no)`: the pay command's idempotency key.
pub const PAYMENTS_MERCHANT_ORDER_UNIQUE: &str = "payments_merchant_order_unique";
/// `refunded_minor + refund_in_flight_minor <= COALESCE(captured_minor, amount_minor)`: no
/// refunding more than was paid (captured, for a manual-capture payment; migration 0028).
pub const PAYMENTS_REFUNDS_WITHIN_AMOUNT: &str = "payments_refunds_within_amount";
/// A manual-capture payment has nothing refunded or in flight before its capture (migration 0028).
pub const PAYMENTS_MANUAL_REFUNDS_ONLY_WHEN_CAPTURED: &str = "payments_manual_refunds_only_when_captured";
/// A capture (requested or made) is above zero and at most the authorised amount (migration 0028).
pub const PAYMENTS_CAPTURE_WITHIN_AMOUNT: &str = "payments_capture_within_amount";
/// `refunds (merchant_id, refund_no)`: the refund command's idempotency key.
pub const REFUNDS_MERCHANT_REFUND_UNIQUE: &str = "refunds_merchant_refund_unique";
/// The composite foreign key `refunds (payment_id, merchant_id, currency) → payments`: the payment
/// does not exist, or has another merchant or currency.
pub const REFUNDS_PAYMENT_FK: &str = "refunds_payment_fk";
/// `approved_by <> requested_by`: four eyes on a refund.
pub const REFUNDS_APPROVER_NOT_REQUESTER: &str = "refunds_approver_not_requester";
/// `state_transitions (entity_id, version)`: a transition recorded twice, or a lost race.
pub const STATE_TRANSITIONS_ENTITY_VERSION_UNIQUE: &str = "state_transitions_entity_version_unique";
/// The append-only guard of `state_transitions` (raised by a trigger, SQLSTATE 23001).
pub const STATE_TRANSITIONS_APPEND_ONLY: &str = "state_transitions_append_only";
/// The append-only guard of `provider_exchanges` (raised by a trigger, SQLSTATE 23001).
pub const PROVIDER_EXCHANGES_APPEND_ONLY: &str = "provider_exchanges_append_only";
/// `notifications (provider, provider_notification_id)`: a provider's retry of a stored notification.
pub const NOTIFICATIONS_PROVIDER_NOTIFICATION_UNIQUE: &str = "notifications_provider_notification_unique";
/// `attention (subject_id, kind) WHERE resolved_at IS NULL`: the same alarm is already open.
pub const ATTENTION_ONE_OPEN_PER_SUBJECT_KIND: &str = "attention_one_open_per_subject_kind";

/// Every name above, for the schema test.
pub const ALL: &[&str] = &[
    PAYMENTS_MERCHANT_ORDER_UNIQUE,
    PAYMENTS_REFUNDS_WITHIN_AMOUNT,
    PAYMENTS_MANUAL_REFUNDS_ONLY_WHEN_CAPTURED,
    PAYMENTS_CAPTURE_WITHIN_AMOUNT,
    REFUNDS_MERCHANT_REFUND_UNIQUE,
    REFUNDS_PAYMENT_FK,
    REFUNDS_APPROVER_NOT_REQUESTER,
    STATE_TRANSITIONS_ENTITY_VERSION_UNIQUE,
    STATE_TRANSITIONS_APPEND_ONLY,
    PROVIDER_EXCHANGES_APPEND_ONLY,
    NOTIFICATIONS_PROVIDER_NOTIFICATION_UNIQUE,
    ATTENTION_ONE_OPEN_PER_SUBJECT_KIND,
];
