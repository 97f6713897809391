//! The schema's guarantees, proved against a real PostgreSQL: each test migrates a fresh database
//! of its own and shows that a rule is enforced by the database (so each would fail if the
//! constraint, index or trigger were missing), and that the error names the rule.

use chrono::{DateTime, Duration, Utc};
use paygate::db::{
    ConstraintKind, ConstraintViolation, MIGRATOR, constraint_violation, constraints, is_unique_violation,
    is_violation, migrate,
};
use paygate_test_support::TestDb;
use sqlx::PgPool;
use uuid::Uuid;

async fn migrated() -> TestDb {
    let db = TestDb::new().await;
    migrate(&db.pool).await.expect("migrations apply");
    db
}

/// The named violation in a refused statement; panics if it was accepted or failed otherwise.
#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, sqlx::Error>) -> ConstraintViolation {
    let err = result.expect_err("the database should refuse this");
    constraint_violation(&err).unwrap_or_else(|| panic!("not a named constraint violation: {err}"))
}

/// Asserts `result` was refused by exactly `constraint`, of `kind`, and that the error says so.
#[track_caller]
fn assert_refused_by<T: std::fmt::Debug>(
    result: Result<T, sqlx::Error>,
    kind: ConstraintKind,
    constraint: &str,
) {
    let v = refused(result);
    assert_eq!((v.kind, v.constraint.as_str()), (kind, constraint), "{v}");
    assert!(v.to_string().contains(constraint), "the error should name {constraint}: {v}");
}

struct NewPayment {
    id: Uuid,
    merchant_id: String,
    order_no: String,
    amount: i64,
    currency: String,
    state: String,
    refunded: i64,
    in_flight: i64,
    next_check_at: Option<DateTime<Utc>>,
}

fn payment(order_no: &str) -> NewPayment {
    NewPayment {
        id: Uuid::now_v7(),
        merchant_id: "m-1".into(),
        order_no: order_no.into(),
        amount: 10_000,
        currency: "CNY".into(),
        state: "created".into(),
        refunded: 0,
        in_flight: 0,
        next_check_at: None,
    }
}

async fn insert_payment(pool: &PgPool, p: &NewPayment) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO payments (id, merchant_id, merchant_order_no, provider, pay_method, order_type, \
             amount_minor, currency, state, subject, request_fingerprint, refunded_minor, \
             refund_in_flight_minor, next_check_at) \
         VALUES ($1, $2, $3, 'alipay', 'alipay_page', 'standard', $4, $5, $6, 'a test order', 'fp', \
             $7, $8, $9) \
         RETURNING id",
    )
    .bind(p.id)
    .bind(&p.merchant_id)
    .bind(&p.order_no)
    .bind(p.amount)
    .bind(&p.currency)
    .bind(&p.state)
    .bind(p.refunded)
    .bind(p.in_flight)
    .bind(p.next_check_at)
    .fetch_one(pool)
    .await
}

struct NewRefund {
    id: Uuid,
    payment_id: Uuid,
    merchant_id: String,
    refund_no: String,
    amount: i64,
    currency: String,
    state: String,
    requested_by: String,
    approved_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
}

fn refund(payment_id: Uuid, refund_no: &str) -> NewRefund {
    NewRefund {
        id: Uuid::now_v7(),
        payment_id,
        merchant_id: "m-1".into(),
        refund_no: refund_no.into(),
        amount: 100,
        currency: "CNY".into(),
        state: "requested".into(),
        requested_by: "alice".into(),
        approved_by: None,
        decided_at: None,
    }
}

async fn insert_refund(pool: &PgPool, r: &NewRefund) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO refunds (id, payment_id, merchant_id, refund_no, amount_minor, currency, state, \
             requested_by, approved_by, decided_at, request_fingerprint) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'fp') \
         RETURNING id",
    )
    .bind(r.id)
    .bind(r.payment_id)
    .bind(&r.merchant_id)
    .bind(&r.refund_no)
    .bind(r.amount)
    .bind(&r.currency)
    .bind(&r.state)
    .bind(&r.requested_by)
    .bind(&r.approved_by)
    .bind(r.decided_at)
    .fetch_one(pool)
    .await
}

/// A payment and a refund of it, both inserted.
async fn payment_with_refund(pool: &PgPool) -> (Uuid, Uuid) {
    let p = insert_payment(pool, &payment("o-1")).await.unwrap();
    let r = insert_refund(pool, &refund(p, "r-1")).await.unwrap();
    (p, r)
}

async fn insert_transition(
    pool: &PgPool,
    payment_id: Uuid,
    refund_id: Option<Uuid>,
    version: i64,
) -> Result<i64, sqlx::Error> {
    let entity = if refund_id.is_some() { "refund" } else { "payment" };
    sqlx::query_scalar(
        "INSERT INTO state_transitions (payment_id, refund_id, entity, from_state, to_state, event, version) \
         VALUES ($1, $2, $3, 'created', 'pending', 'dispatched', $4) RETURNING id",
    )
    .bind(payment_id)
    .bind(refund_id)
    .bind(entity)
    .bind(version)
    .fetch_one(pool)
    .await
}

async fn insert_exchange(
    pool: &PgPool,
    payment_id: Uuid,
    outcome: &str,
    status: Option<i32>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO provider_exchanges (payment_id, provider, operation, request_method, request_url, \
             request_headers, request_body, response_status, response_body, latency_us, outcome, started_at) \
         VALUES ($1, 'alipay', 'pay', 'POST', 'https://sim.local/gateway.do', '{}', 'biz_content=...', \
             $2, '{}', 1234, $3, now()) \
         RETURNING id",
    )
    .bind(payment_id)
    .bind(status)
    .bind(outcome)
    .fetch_one(pool)
    .await
}

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Migrations

#[tokio::test]
async fn migrations_apply_cleanly_and_create_every_table() {
    let db = migrated().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for expected in [
        "outbox",
        "processed_messages",
        "payments",
        "refunds",
        "state_transitions",
        "provider_exchanges",
        "notifications",
        "attention",
        "merchant_policies",
        "cashier_methods",
        "cashier_sessions",
    ] {
        assert!(tables.iter().any(|t| t == expected), "table {expected} missing from {tables:?}");
    }
    let applied = count(&db.pool, "SELECT count(*) FROM _sqlx_migrations WHERE success").await;
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
}

#[tokio::test]
async fn migrating_again_or_concurrently_is_harmless() {
    let db = TestDb::new().await;
    // Two services starting at once against an empty database.
    let (a, b) = tokio::join!(migrate(&db.pool), migrate(&db.pool));
    a.expect("first concurrent migrate");
    b.expect("second concurrent migrate");
    // And a restart.
    migrate(&db.pool).await.expect("migrate again");
    let applied = count(&db.pool, "SELECT count(*) FROM _sqlx_migrations").await;
    assert_eq!(applied, MIGRATOR.iter().count() as i64, "each migration recorded once");
    // The schema still works.
    insert_payment(&db.pool, &payment("o-1")).await.unwrap();
}

#[tokio::test]
async fn every_constraint_name_the_application_uses_exists() {
    let db = migrated().await;
    for name in constraints::ALL {
        let found: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1) \
                 OR EXISTS (SELECT 1 FROM pg_class WHERE relname = $1 AND relkind = 'i') \
                 OR EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = $1)",
        )
        .bind(name)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert!(found, "paygate::db::constraints names {name}, which the schema does not have");
    }
}

// ---------------------------------------------------------------------------------------------
// Payments

#[tokio::test]
async fn a_merchant_order_number_is_taken_once_per_merchant() {
    let db = migrated().await;
    insert_payment(&db.pool, &payment("o-1")).await.unwrap();

    let err = insert_payment(&db.pool, &payment("o-1")).await.unwrap_err();
    assert!(is_unique_violation(&err, constraints::PAYMENTS_MERCHANT_ORDER_UNIQUE), "{err}");
    assert!(err.to_string().contains("payments_merchant_order_unique"), "{err}");
    let v = constraint_violation(&err).unwrap();
    assert_eq!(v.table.as_deref(), Some("payments"));
    assert!(!is_unique_violation(&err, constraints::REFUNDS_MERCHANT_REFUND_UNIQUE));

    // The same order number at another merchant is another order.
    let other = NewPayment { merchant_id: "m-2".into(), ..payment("o-1") };
    insert_payment(&db.pool, &other).await.unwrap();
}

#[tokio::test]
async fn negative_amounts_are_refused() {
    let db = migrated().await;
    let pool = &db.pool;
    let check = ConstraintKind::Check;

    let p = NewPayment { amount: -1, ..payment("neg") };
    assert_refused_by(insert_payment(pool, &p).await, check, "payments_amount_non_negative");
    let p = NewPayment { refunded: -1, ..payment("neg-refunded") };
    assert_refused_by(insert_payment(pool, &p).await, check, "payments_refunded_non_negative");
    let p = NewPayment { in_flight: -1, ..payment("neg-in-flight") };
    assert_refused_by(insert_payment(pool, &p).await, check, "payments_refund_in_flight_non_negative");
    // A zero-amount payment is allowed (e.g. a card verification).
    let id = insert_payment(pool, &NewPayment { amount: 0, ..payment("zero") }).await.unwrap();

    let paid = insert_payment(pool, &payment("paid")).await.unwrap();
    for amount in [0, -100] {
        let r = NewRefund { amount, ..refund(paid, &format!("r{amount}")) };
        assert_refused_by(insert_refund(pool, &r).await, check, "refunds_amount_positive");
    }

    // The UPDATE path is guarded as well.
    let res = sqlx::query("UPDATE payments SET amount_minor = -5 WHERE id = $1").bind(id).execute(pool).await;
    assert_refused_by(res, check, "payments_amount_non_negative");
}

#[tokio::test]
async fn unknown_states_are_refused_and_every_known_state_is_accepted() {
    let db = migrated().await;
    let pool = &db.pool;
    let payment_states = [
        "created",
        "pending",
        "action_required",
        "unknown",
        "succeeded",
        "failed",
        "closed",
        "expired",
        "partially_refunded",
        "refunded",
    ];
    for state in payment_states {
        insert_payment(pool, &NewPayment { state: state.into(), ..payment(state) }).await.unwrap();
    }
    for state in ["paid", "PENDING", "", "success"] {
        let p = NewPayment { state: state.into(), ..payment(&format!("bad-{state}")) };
        assert_refused_by(insert_payment(pool, &p).await, ConstraintKind::Check, "payments_state_known");
    }

    let paid = insert_payment(pool, &payment("for-refunds")).await.unwrap();
    let refund_states = [
        "requested",
        "awaiting_approval",
        "submitted",
        "processing",
        "unknown",
        "succeeded",
        "failed",
        "rejected",
    ];
    for state in refund_states {
        insert_refund(pool, &NewRefund { state: state.into(), ..refund(paid, state) }).await.unwrap();
    }
    for state in ["refunded", "closed", "SUCCEEDED", ""] {
        let r = NewRefund { state: state.into(), ..refund(paid, &format!("bad-{state}")) };
        assert_refused_by(insert_refund(pool, &r).await, ConstraintKind::Check, "refunds_state_known");
    }
}

#[tokio::test]
async fn currency_is_three_uppercase_letters() {
    let db = migrated().await;
    for currency in ["cny", "CN", "C1Y", "   "] {
        let p = NewPayment { currency: currency.into(), ..payment(&format!("o-{currency}")) };
        assert_refused_by(
            insert_payment(&db.pool, &p).await,
            ConstraintKind::Check,
            "payments_currency_iso4217",
        );
    }
    insert_payment(&db.pool, &NewPayment { currency: "JPY".into(), ..payment("jpy") }).await.unwrap();
}

#[tokio::test]
async fn refunded_and_in_flight_together_cannot_exceed_the_amount() {
    let db = migrated().await;
    let pool = &db.pool;
    let within = constraints::PAYMENTS_REFUNDS_WITHIN_AMOUNT;

    let exact = NewPayment { amount: 100, refunded: 60, in_flight: 40, ..payment("exact") };
    let id = insert_payment(pool, &exact).await.unwrap();
    let over = NewPayment { amount: 100, refunded: 60, in_flight: 41, ..payment("over") };
    assert_refused_by(insert_payment(pool, &over).await, ConstraintKind::Check, within);

    // The way a refund reserves its amount: refused once the payment is fully committed.
    let res =
        sqlx::query("UPDATE payments SET refund_in_flight_minor = refund_in_flight_minor + $2 WHERE id = $1")
            .bind(id)
            .bind(1_i64)
            .execute(pool)
            .await;
    assert_refused_by(res, ConstraintKind::Check, within);
}

#[tokio::test]
async fn updated_at_is_kept_by_the_database_and_version_is_not() {
    let db = migrated().await;
    let id = insert_payment(&db.pool, &payment("o-1")).await.unwrap();
    sqlx::query("UPDATE payments SET state = 'pending', updated_at = '2000-01-01T00:00:00Z' WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    let (updated_at, version): (DateTime<Utc>, i64) =
        sqlx::query_as("SELECT updated_at, version FROM payments WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(updated_at > Utc::now() - Duration::hours(1), "updated_at was not touched: {updated_at}");
    assert_eq!(version, 0, "version is the application's to move");
}

// ---------------------------------------------------------------------------------------------
// Refunds

#[tokio::test]
async fn a_refund_number_is_taken_once_per_merchant() {
    let db = migrated().await;
    let pool = &db.pool;
    let p1 = insert_payment(pool, &payment("o-1")).await.unwrap();
    insert_refund(pool, &refund(p1, "r-1")).await.unwrap();

    // Even against another payment of the same merchant.
    let p2 = insert_payment(pool, &payment("o-2")).await.unwrap();
    let err = insert_refund(pool, &refund(p2, "r-1")).await.unwrap_err();
    assert!(is_unique_violation(&err, constraints::REFUNDS_MERCHANT_REFUND_UNIQUE), "{err}");
    assert!(err.to_string().contains("refunds_merchant_refund_unique"), "{err}");

    let other_merchant =
        insert_payment(pool, &NewPayment { merchant_id: "m-2".into(), ..payment("o-1") }).await.unwrap();
    insert_refund(pool, &NewRefund { merchant_id: "m-2".into(), ..refund(other_merchant, "r-1") })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refund_has_its_payments_merchant_and_currency() {
    let db = migrated().await;
    let pool = &db.pool;
    let fk = constraints::REFUNDS_PAYMENT_FK;
    let paid = insert_payment(pool, &payment("o-1")).await.unwrap();

    let r = NewRefund { currency: "USD".into(), ..refund(paid, "r-usd") };
    assert_refused_by(insert_refund(pool, &r).await, ConstraintKind::ForeignKey, fk);
    let r = NewRefund { merchant_id: "m-2".into(), ..refund(paid, "r-m2") };
    assert_refused_by(insert_refund(pool, &r).await, ConstraintKind::ForeignKey, fk);
    let r = refund(Uuid::now_v7(), "r-nobody");
    assert_refused_by(insert_refund(pool, &r).await, ConstraintKind::ForeignKey, fk);
}

#[tokio::test]
async fn the_approver_is_not_the_requester() {
    let db = migrated().await;
    let pool = &db.pool;
    let rule = constraints::REFUNDS_APPROVER_NOT_REQUESTER;
    let paid = insert_payment(pool, &payment("o-1")).await.unwrap();

    let r =
        NewRefund { approved_by: Some("alice".into()), decided_at: Some(Utc::now()), ..refund(paid, "self") };
    assert_refused_by(insert_refund(pool, &r).await, ConstraintKind::Check, rule);

    let r = NewRefund {
        approved_by: Some("bob".into()),
        decided_at: Some(Utc::now()),
        ..refund(paid, "four-eyes")
    };
    insert_refund(pool, &r).await.unwrap();

    // Approving one's own pending request through an UPDATE is refused as well.
    let pending =
        insert_refund(pool, &NewRefund { state: "awaiting_approval".into(), ..refund(paid, "later") })
            .await
            .unwrap();
    let res = sqlx::query(
        "UPDATE refunds SET approved_by = requested_by, decided_at = now(), state = 'submitted' WHERE id = $1",
    )
    .bind(pending)
    .execute(pool)
    .await;
    assert_refused_by(res, ConstraintKind::Check, rule);

    // An approval has a time.
    let r = NewRefund { approved_by: Some("bob".into()), ..refund(paid, "undated") };
    assert_refused_by(insert_refund(pool, &r).await, ConstraintKind::Check, "refunds_approval_decided");
}

#[tokio::test]
async fn operator_identities_are_stored_normalised_and_compared_so() {
    let db = migrated().await;
    let pool = &db.pool;
    let paid = insert_payment(pool, &payment("o-1")).await.unwrap();
    let decided = Some(Utc::now());

    // The requester under another spelling cannot approve.
    for (no, spelling) in [("r-upper", "Alice"), ("r-space", "alice "), ("r-both", " ALICE")] {
        let r = NewRefund { approved_by: Some(spelling.into()), decided_at: decided, ..refund(paid, no) };
        assert!(insert_refund(pool, &r).await.is_err(), "{spelling:?} approved alice's refund");
    }
    let r = NewRefund { approved_by: Some("Bob".into()), decided_at: decided, ..refund(paid, "r-bob") };
    assert_refused_by(insert_refund(pool, &r).await, ConstraintKind::Check, "refunds_approved_by_normalised");
    for (no, spelling) in [("r-req-upper", "Alice"), ("r-req-space", " alice"), ("r-req-inner", "al ice")] {
        let r = NewRefund { requested_by: spelling.into(), ..refund(paid, no) };
        assert_refused_by(
            insert_refund(pool, &r).await,
            ConstraintKind::Check,
            "refunds_requested_by_normalised",
        );
    }
    let r =
        NewRefund { approved_by: Some("bob@example.com".into()), decided_at: decided, ..refund(paid, "ok") };
    insert_refund(pool, &r).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// History and the exchange log

#[tokio::test]
async fn state_transitions_cannot_be_updated_deleted_or_truncated() {
    let db = migrated().await;
    let pool = &db.pool;
    let (p, _) = payment_with_refund(pool).await;
    insert_transition(pool, p, None, 1).await.unwrap();

    for (op, sql) in [
        ("UPDATE", "UPDATE state_transitions SET to_state = 'succeeded'"),
        ("DELETE", "DELETE FROM state_transitions"),
        ("TRUNCATE", "TRUNCATE state_transitions"),
    ] {
        let v = refused(sqlx::query(sql).execute(pool).await);
        assert_eq!(v.kind, ConstraintKind::Restrict, "{op}: {v}");
        assert_eq!(v.constraint, constraints::STATE_TRANSITIONS_APPEND_ONLY, "{op}");
        assert_eq!(v.table.as_deref(), Some("state_transitions"), "{op}");
        assert!(v.message.contains("state_transitions is append-only") && v.message.contains(op), "{v}");
    }
    // Refused even when no row would be touched.
    let res = sqlx::query("DELETE FROM state_transitions WHERE false").execute(pool).await;
    assert_refused_by(res, ConstraintKind::Restrict, constraints::STATE_TRANSITIONS_APPEND_ONLY);

    assert_eq!(count(pool, "SELECT count(*) FROM state_transitions").await, 1);
}

#[tokio::test]
async fn a_transition_cannot_be_recorded_twice() {
    let db = migrated().await;
    let pool = &db.pool;
    let unique = constraints::STATE_TRANSITIONS_ENTITY_VERSION_UNIQUE;
    let (p, r) = payment_with_refund(pool).await;

    insert_transition(pool, p, None, 1).await.unwrap();
    insert_transition(pool, p, None, 2).await.unwrap();
    let err = insert_transition(pool, p, None, 2).await.unwrap_err();
    assert!(is_unique_violation(&err, unique), "{err}");
    assert!(err.to_string().contains(unique), "{err}");

    // The refund has a version sequence of its own.
    insert_transition(pool, p, Some(r), 1).await.unwrap();
    insert_transition(pool, p, Some(r), 2).await.unwrap();
    assert!(is_unique_violation(&insert_transition(pool, p, Some(r), 2).await.unwrap_err(), unique));
}

#[tokio::test]
async fn a_transition_belongs_to_its_entity() {
    let db = migrated().await;
    let pool = &db.pool;
    let (_, r) = payment_with_refund(pool).await;
    let other = insert_payment(pool, &payment("o-2")).await.unwrap();

    // A refund's history cannot be filed under another payment.
    assert_refused_by(
        insert_transition(pool, other, Some(r), 1).await,
        ConstraintKind::ForeignKey,
        "state_transitions_refund_fk",
    );
    // `entity` agrees with refund_id.
    let res = sqlx::query(
        "INSERT INTO state_transitions (payment_id, entity, to_state, event, version) \
         VALUES ($1, 'refund', 'submitted', 'submit', 1)",
    )
    .bind(other)
    .execute(pool)
    .await;
    assert_refused_by(res, ConstraintKind::Check, "state_transitions_entity_matches_refund");
}

#[tokio::test]
async fn provider_exchanges_are_append_only() {
    let db = migrated().await;
    let pool = &db.pool;
    let p = insert_payment(pool, &payment("o-1")).await.unwrap();
    insert_exchange(pool, p, "ok", Some(200)).await.unwrap();
    insert_exchange(pool, p, "timeout", None).await.unwrap();

    for (op, sql) in [
        ("UPDATE", "UPDATE provider_exchanges SET response_body = 'rewritten'"),
        ("DELETE", "DELETE FROM provider_exchanges"),
        ("TRUNCATE", "TRUNCATE provider_exchanges"),
    ] {
        let v = refused(sqlx::query(sql).execute(pool).await);
        assert_eq!(v.kind, ConstraintKind::Restrict, "{op}: {v}");
        assert_eq!(v.constraint, constraints::PROVIDER_EXCHANGES_APPEND_ONLY, "{op}");
        assert!(v.message.contains("provider_exchanges is append-only"), "{v}");
    }
    assert_eq!(count(pool, "SELECT count(*) FROM provider_exchanges").await, 2);
}

#[tokio::test]
async fn provider_exchange_outcomes_are_a_closed_set() {
    let db = migrated().await;
    let pool = &db.pool;
    let p = insert_payment(pool, &payment("o-1")).await.unwrap();
    for outcome in ["ok", "declined", "error", "timeout", "transport_error"] {
        insert_exchange(pool, p, outcome, Some(200)).await.unwrap();
    }
    assert_refused_by(
        insert_exchange(pool, p, "success", Some(200)).await,
        ConstraintKind::Check,
        "provider_exchanges_outcome_known",
    );
    // An answer has a status.
    assert_refused_by(
        insert_exchange(pool, p, "declined", None).await,
        ConstraintKind::Check,
        "provider_exchanges_answer_has_status",
    );
}

// ---------------------------------------------------------------------------------------------
// Notifications and attention

async fn insert_notification(
    pool: &PgPool,
    provider: &str,
    notification_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO notifications (provider, provider_notification_id, merchant_trade_no, headers, body) \
         VALUES ($1, $2, 'o-1', '{\"content-type\": \"application/json\"}', '{\"trade_status\":\"TRADE_SUCCESS\"}') \
         RETURNING id",
    )
    .bind(provider)
    .bind(notification_id)
    .fetch_one(pool)
    .await
}

#[tokio::test]
async fn a_notification_is_stored_once_per_provider_id() {
    let db = migrated().await;
    let pool = &db.pool;
    let unique = constraints::NOTIFICATIONS_PROVIDER_NOTIFICATION_UNIQUE;
    let id = insert_notification(pool, "alipay", "n-1").await.unwrap();

    let err = insert_notification(pool, "alipay", "n-1").await.unwrap_err();
    assert!(is_unique_violation(&err, unique), "{err}");
    assert!(err.to_string().contains(unique), "{err}");
    // The webhook's way: a provider's retry inserts nothing and is still acknowledged.
    let inserted = sqlx::query(
        "INSERT INTO notifications (provider, provider_notification_id, body) VALUES ('alipay', 'n-1', '') \
         ON CONFLICT (provider, provider_notification_id) DO NOTHING",
    )
    .execute(pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(inserted, 0);
    // Ids are the provider's own: another provider may reuse one.
    insert_notification(pool, "wechatpay", "n-1").await.unwrap();

    // Deciding a notification records when, and anything not applied records why.
    let res = sqlx::query("UPDATE notifications SET status = 'flagged', processed_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await;
    assert_refused_by(res, ConstraintKind::Check, "notifications_reason_unless_applied");
    let res =
        sqlx::query("UPDATE notifications SET status = 'applied' WHERE id = $1").bind(id).execute(pool).await;
    assert_refused_by(res, ConstraintKind::Check, "notifications_processed_when_decided");
    sqlx::query(
        "UPDATE notifications SET status = 'flagged', reason = 'amount mismatch', processed_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
    let res =
        sqlx::query("UPDATE notifications SET status = 'pending' WHERE id = $1").bind(id).execute(pool).await;
    assert_refused_by(res, ConstraintKind::Check, "notifications_status_known");
}

async fn open_attention(
    pool: &PgPool,
    payment_id: Uuid,
    refund_id: Option<Uuid>,
    kind: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO attention (payment_id, refund_id, kind, detail) \
         VALUES ($1, $2, $3, '{\"attempts\": 6}') RETURNING id",
    )
    .bind(payment_id)
    .bind(refund_id)
    .bind(kind)
    .fetch_one(pool)
    .await
}

#[tokio::test]
async fn attention_keeps_one_open_row_per_subject_and_kind() {
    let db = migrated().await;
    let pool = &db.pool;
    let one_open = constraints::ATTENTION_ONE_OPEN_PER_SUBJECT_KIND;
    let (p, r) = payment_with_refund(pool).await;

    let first = open_attention(pool, p, None, "unknown_after_retries").await.unwrap();
    let err = open_attention(pool, p, None, "unknown_after_retries").await.unwrap_err();
    assert!(is_unique_violation(&err, one_open), "{err}");
    assert!(err.to_string().contains(one_open), "{err}");

    // Raising the same alarm again, the intended way.
    let raised = sqlx::query(
        "INSERT INTO attention (payment_id, kind) VALUES ($1, 'unknown_after_retries') \
         ON CONFLICT (subject_id, kind) WHERE resolved_at IS NULL DO NOTHING",
    )
    .bind(p)
    .execute(pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(raised, 0);

    // Another kind, or the payment's refund, is another subject of attention.
    open_attention(pool, p, None, "notification_flagged").await.unwrap();
    open_attention(pool, p, Some(r), "unknown_after_retries").await.unwrap();

    // Resolving takes a time, a person and a written resolution.
    let res =
        sqlx::query("UPDATE attention SET resolved_at = now() WHERE id = $1").bind(first).execute(pool).await;
    assert_refused_by(res, ConstraintKind::Check, "attention_resolution_complete");
    let res = sqlx::query("UPDATE attention SET resolved_at = now(), resolved_by = 'carol' WHERE id = $1")
        .bind(first)
        .execute(pool)
        .await;
    assert_refused_by(res, ConstraintKind::Check, "attention_resolution_complete");
    sqlx::query(
        "UPDATE attention SET resolved_at = now(), resolved_by = 'carol', \
             resolution = 'queried by hand: succeeded' WHERE id = $1",
    )
    .bind(first)
    .execute(pool)
    .await
    .unwrap();

    // Once resolved, the same alarm may be raised again.
    open_attention(pool, p, None, "unknown_after_retries").await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The stuck scans

/// Whether the plan names `index` (as a whole word: not a prefix of another name).
fn uses_index(plan: &str, index: &str) -> bool {
    plan.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|word| word == index)
}

/// The plan of `explain` (an EXPLAIN statement); if the planner prefers a sequential scan on this
/// small table, asks again with sequential scans disabled: the point is that the index is usable.
async fn plan(pool: &PgPool, explain: &'static str, index: &str) -> String {
    let lines: Vec<String> = sqlx::query_scalar(explain).fetch_all(pool).await.unwrap();
    let plan = lines.join("\n");
    if uses_index(&plan, index) {
        return plan;
    }
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *tx).await.unwrap();
    let lines: Vec<String> = sqlx::query_scalar(explain).fetch_all(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    lines.join("\n")
}

#[tokio::test]
async fn the_payment_stuck_scan_uses_its_partial_index() {
    let db = migrated().await;
    let pool = &db.pool;
    // 3000 payments: most final; of the 300 stuck, every other one is due.
    sqlx::query(
        "INSERT INTO payments (id, merchant_id, merchant_order_no, provider, pay_method, order_type, \
             amount_minor, currency, state, subject, request_fingerprint, next_check_at) \
         SELECT gen_random_uuid(), 'm-1', 'o-' || g, 'alipay', 'alipay_page', 'standard', 100, 'CNY', \
             CASE WHEN g % 10 <> 0 THEN 'succeeded' \
                  ELSE (ARRAY['pending', 'action_required', 'unknown'])[1 + (g / 10) % 3] END, \
             's', 'fp', \
             CASE WHEN g % 10 <> 0 THEN NULL \
                  WHEN g % 20 = 0 THEN now() - interval '1 minute' \
                  ELSE now() + interval '1 hour' END \
         FROM generate_series(1, 3000) AS g",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE payments").execute(pool).await.unwrap();

    let plan = plan(
        pool,
        "EXPLAIN SELECT id FROM payments \
         WHERE state IN ('pending', 'action_required', 'unknown') AND next_check_at <= now() \
         ORDER BY next_check_at LIMIT 100",
        "payments_stuck_scan",
    )
    .await;
    assert!(uses_index(&plan, "payments_stuck_scan"), "the stuck scan does not use its index:\n{plan}");

    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM payments \
         WHERE state IN ('pending', 'action_required', 'unknown') AND next_check_at <= now() \
         ORDER BY next_check_at LIMIT 100",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(due.len(), 100, "150 are due; the scan returns its limit");
}

#[tokio::test]
async fn the_refund_stuck_scan_uses_its_partial_index() {
    let db = migrated().await;
    let pool = &db.pool;
    let p = insert_payment(pool, &NewPayment { amount: 1_000_000, ..payment("o-1") }).await.unwrap();
    sqlx::query(
        "INSERT INTO refunds (id, payment_id, merchant_id, refund_no, amount_minor, currency, state, \
             requested_by, request_fingerprint, next_check_at) \
         SELECT gen_random_uuid(), $1, 'm-1', 'r-' || g, 1, 'CNY', \
             CASE WHEN g % 10 <> 0 THEN 'succeeded' \
                  ELSE (ARRAY['submitted', 'processing', 'unknown'])[1 + (g / 10) % 3] END, \
             'alice', 'fp', \
             CASE WHEN g % 10 <> 0 THEN NULL ELSE now() - interval '1 minute' END \
         FROM generate_series(1, 3000) AS g",
    )
    .bind(p)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE refunds").execute(pool).await.unwrap();

    let plan = plan(
        pool,
        "EXPLAIN SELECT id FROM refunds \
         WHERE state IN ('submitted', 'processing', 'unknown') AND next_check_at <= now() \
         ORDER BY next_check_at LIMIT 100",
        "refunds_stuck_scan",
    )
    .await;
    assert!(uses_index(&plan, "refunds_stuck_scan"), "the refund stuck scan does not use its index:\n{plan}");
}

/// `is_violation` distinguishes kinds: a unique name checked as a CHECK is not a match.
#[tokio::test]
async fn violation_kinds_are_told_apart() {
    let db = migrated().await;
    insert_payment(&db.pool, &payment("o-1")).await.unwrap();
    let err = insert_payment(&db.pool, &payment("o-1")).await.unwrap_err();
    let name = constraints::PAYMENTS_MERCHANT_ORDER_UNIQUE;
    assert!(is_violation(&err, ConstraintKind::Unique, name));
    assert!(!is_violation(&err, ConstraintKind::Check, name));
}

#[tokio::test]
async fn merchant_policies_are_one_per_merchant_and_currency_with_sane_thresholds() {
    let db = migrated().await;
    let pool = &db.pool;
    let insert = |merchant: &'static str, currency: &'static str, over: Option<i64>| {
        sqlx::query(
            "INSERT INTO merchant_policies (merchant_id, currency, refund_approval_over_minor) \
             VALUES ($1, $2, $3)",
        )
        .bind(merchant)
        .bind(currency)
        .bind(over)
        .execute(pool)
    };
    insert("m-1", "CNY", Some(10_000)).await.unwrap();
    insert("m-1", "USD", None).await.unwrap();
    assert_refused_by(insert("m-1", "CNY", None).await, ConstraintKind::Unique, "merchant_policies_pkey");
    assert_refused_by(
        insert("m-2", "CNY", Some(-1)).await,
        ConstraintKind::Check,
        "merchant_policies_threshold_non_negative",
    );
    assert_refused_by(
        insert("m-2", "cny", None).await,
        ConstraintKind::Check,
        "merchant_policies_currency_iso4217",
    );
    assert_refused_by(
        insert(" ", "CNY", None).await,
        ConstraintKind::Check,
        "merchant_policies_merchant_not_blank",
    );
}

/// A manual-capture payment (migration 0028): nothing refundable before its capture, refunds
/// within what was captured, a capture within the authorised amount, and `authorized_at` stamped
/// when it is first authorised.
#[tokio::test]
async fn a_manual_payment_refunds_only_what_was_captured() {
    let db = migrated().await;
    let pool = &db.pool;
    let id = insert_payment(pool, &NewPayment { amount: 1_000, ..payment("manual") }).await.unwrap();
    let update = |sql: &'static str| async move { sqlx::query(sql).bind(id).execute(pool).await };
    update("UPDATE payments SET capture_mode = 'manual', state = 'authorized' WHERE id = $1").await.unwrap();
    let stamped: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT authorized_at FROM payments WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(stamped.is_some(), "authorized_at is stamped when the payment is authorised");
    assert_refused_by(
        update("UPDATE payments SET refund_in_flight_minor = 1 WHERE id = $1").await,
        ConstraintKind::Check,
        constraints::PAYMENTS_MANUAL_REFUNDS_ONLY_WHEN_CAPTURED,
    );
    assert_refused_by(
        update("UPDATE payments SET capture_requested_minor = 1001 WHERE id = $1").await,
        ConstraintKind::Check,
        constraints::PAYMENTS_CAPTURE_WITHIN_AMOUNT,
    );
    update("UPDATE payments SET state = 'succeeded', captured_minor = 600 WHERE id = $1").await.unwrap();
    assert_refused_by(
        update("UPDATE payments SET refund_in_flight_minor = 601 WHERE id = $1").await,
        ConstraintKind::Check,
        constraints::PAYMENTS_REFUNDS_WITHIN_AMOUNT,
    );
    update("UPDATE payments SET refund_in_flight_minor = 600 WHERE id = $1").await.unwrap();
    // An automatic payment has no capture columns.
    let auto = insert_payment(pool, &payment("auto")).await.unwrap();
    let res =
        sqlx::query("UPDATE payments SET captured_minor = 5 WHERE id = $1").bind(auto).execute(pool).await;
    assert!(res.is_err(), "an automatic payment has no captured amount of its own");
}
