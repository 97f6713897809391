//! The refund store, the payment's refund balance and merchant policies against a real database:
//! refund creation idempotent on the refund number with conflicts told apart by fingerprint,
//! transitions that go through the state machine and are recorded, and balance operations that
//! can never refund more than was paid, even when twenty transactions race for one payment.

use paygate::db::{constraint_violation, constraints};
use paygate::domain::{Currency, Money};
use paygate::state_machine::{BalanceError, PaymentEvent, PaymentState, RefundEvent, RefundState};
use paygate::store::StoreError;
use paygate::store::StoredRow;
use paygate::store::payments::{self, Created as PaymentCreated, NewPayment, Payment};
use paygate::store::policies::{self, Policy};
use paygate::store::refunds::{self, Applied, Created, NewRefund, Refund};
use paygate::store::{balance, history};
use paygate_test_support::TestDb;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

async fn db() -> TestDb {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.expect("migrate");
    db
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY).unwrap()
}

/// A payment of `amount` CNY fen, moved to `succeeded` as the dispatcher would.
async fn paid_payment(pool: &PgPool, order_no: &str, amount: i64) -> Payment {
    let mut conn = pool.acquire().await.unwrap();
    let new = NewPayment {
        capture_mode: Default::default(),
        id: Uuid::now_v7(),
        merchant_id: "m-1".parse().unwrap(),
        merchant_order_no: order_no.into(),
        provider: "mockpay".parse().unwrap(),
        pay_method: "qr".parse().unwrap(),
        order_type: "retail".into(),
        amount: cny(amount),
        subject: "Coffee".into(),
        return_url: None,
        expires_at: None,
        metadata: json!({}),
        request_fingerprint: "fp".into(),
        reply_to: None,
        correlation_id: None,
        auth_code: None,
        payer: None,
    };
    let PaymentCreated::New(mut p) = payments::create(&mut conn, &new, None).await.unwrap() else {
        panic!("new payment")
    };
    for event in [PaymentEvent::Submitted, PaymentEvent::ProviderSucceeded] {
        payments::transition(&mut conn, &mut p, event, None, json!({})).await.unwrap();
    }
    assert_eq!(p.state, PaymentState::Succeeded);
    p
}

fn new_refund(payment: &Payment, refund_no: &str, amount: i64, fingerprint: &str) -> NewRefund {
    NewRefund {
        id: Uuid::now_v7(),
        payment_id: payment.id,
        merchant_id: payment.merchant_id.clone(),
        refund_no: refund_no.into(),
        amount: cny(amount),
        reason: Some("broken cup".into()),
        requested_by: "alice".into(),
        request_fingerprint: fingerprint.into(),
        reply_to: None,
        correlation_id: None,
    }
}

#[tokio::test]
async fn creating_is_idempotent_on_the_refund_number_and_keeps_the_fingerprint() {
    let db = db().await;
    let p = paid_payment(&db.pool, "o-1", 1_000).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let cause = Uuid::now_v7();

    let Created::New(r) =
        refunds::create(&mut conn, &new_refund(&p, "r-1", 300, "fp-a"), Some(cause)).await.unwrap()
    else {
        panic!("the first creation must be new")
    };
    assert_eq!((r.state, r.amount, r.version), (RefundState::Requested, cny(300), 0));
    assert_eq!(r.requested_by, "alice");

    // The same number again, same parameters: the existing refund, nothing written.
    let Created::Existing(same) =
        refunds::create(&mut conn, &new_refund(&p, "r-1", 300, "fp-a"), None).await.unwrap()
    else {
        panic!("a repeat must find the first")
    };
    assert_eq!(same.id, r.id);
    // Other parameters: still the existing refund; its fingerprint tells the caller it conflicts.
    let Created::Existing(other) =
        refunds::create(&mut conn, &new_refund(&p, "r-1", 999, "fp-b"), None).await.unwrap()
    else {
        panic!("a conflicting repeat must find the first")
    };
    assert_eq!((other.id, other.amount, other.request_fingerprint.as_str()), (r.id, cny(300), "fp-a"));

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds").fetch_one(&db.pool).await.unwrap();
    assert_eq!(count, 1);
    let h = history::of_payment(&mut conn, p.id).await.unwrap();
    let created: Vec<_> = h.iter().filter(|row| row.entity == "refund").collect();
    assert_eq!(created.len(), 1);
    assert_eq!(
        (
            created[0].refund_id,
            created[0].from_state.as_deref(),
            created[0].to_state.as_str(),
            created[0].version
        ),
        (Some(r.id), None, "requested", 0)
    );
    assert_eq!(created[0].cause_message_id, Some(cause));

    assert_eq!(Refund::find_by_number(&mut conn, "m-1", "r-1").await.unwrap().map(|x| x.id), Some(r.id));
    assert_eq!(Refund::find_by_number(&mut conn, "m-2", "r-1").await.unwrap(), None);
    assert_eq!(Refund::get(&mut conn, r.id).await.unwrap().as_ref(), Some(&r));
    assert_eq!(Refund::get(&mut conn, Uuid::now_v7()).await.unwrap(), None);
    let second = refunds::create(&mut conn, &new_refund(&p, "r-2", 100, "fp-c"), None).await.unwrap();
    let ids: Vec<Uuid> = refunds::of_payment(&mut conn, p.id).await.unwrap().iter().map(|x| x.id).collect();
    let Created::New(second) = second else { panic!("new") };
    assert_eq!(ids, [r.id, second.id]);
}

#[tokio::test]
async fn a_refund_in_another_currency_is_refused_by_the_database() {
    let db = db().await;
    let p = paid_payment(&db.pool, "o-1", 1_000).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let mut usd = new_refund(&p, "r-1", 100, "fp");
    usd.amount = Money::from_minor(100, Currency::USD).unwrap();
    let Err(StoreError::Database(e)) = refunds::create(&mut conn, &usd, None).await else {
        panic!("another currency must be refused")
    };
    assert_eq!(
        constraint_violation(&e).map(|v| v.constraint),
        Some(constraints::REFUNDS_PAYMENT_FK.to_owned())
    );
}

#[tokio::test]
async fn transitions_go_through_the_machine_and_are_recorded() {
    let db = db().await;
    let p = paid_payment(&db.pool, "o-1", 1_000).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let Created::New(r) = refunds::create(&mut conn, &new_refund(&p, "r-1", 300, "fp"), None).await.unwrap()
    else {
        panic!("new")
    };
    drop(conn);
    let mut tx = db.pool.begin().await.unwrap();
    let mut r = Refund::lock(&mut tx, r.id).await.unwrap().expect("exists");
    let cause = Uuid::now_v7();

    let applied = refunds::transition(
        &mut tx,
        &mut r,
        RefundEvent::ApprovalRequired,
        Some(cause),
        json!({"over": 200}),
    )
    .await
    .unwrap();
    assert_eq!(
        applied,
        Applied::Moved { from: RefundState::Requested, to: RefundState::AwaitingApproval, version: 1 }
    );
    // A repeat is harmless and writes nothing.
    let again =
        refunds::transition(&mut tx, &mut r, RefundEvent::ApprovalRequired, None, json!({})).await.unwrap();
    assert_eq!(again, Applied::AlreadyApplied);
    // A contradiction is refused and changes nothing.
    let refused = refunds::transition(&mut tx, &mut r, RefundEvent::ProviderSucceeded, None, json!({})).await;
    assert!(matches!(refused, Err(StoreError::Refused(_))), "{refused:?}");
    assert_eq!((r.state, r.version), (RefundState::AwaitingApproval, 1));

    // Four eyes, in the database too.
    let err = refunds::record_decision(&mut tx, &mut r, Some("alice"), None).await.unwrap_err();
    let StoreError::Database(e) = err else { panic!("{err:?}") };
    assert_eq!(
        constraint_violation(&e).map(|v| v.constraint),
        Some(constraints::REFUNDS_APPROVER_NOT_REQUESTER.to_owned())
    );
    tx.rollback().await.unwrap();

    let mut tx = db.pool.begin().await.unwrap();
    let mut r = Refund::find_by_number(&mut tx, "m-1", "r-1").await.unwrap().expect("exists");
    let mut r2 = r.clone();
    refunds::transition(&mut tx, &mut r, RefundEvent::ApprovalRequired, None, json!({})).await.unwrap();
    refunds::record_decision(&mut tx, &mut r, Some("bob"), Some("checked the receipt")).await.unwrap();
    refunds::transition(&mut tx, &mut r, RefundEvent::Approved, None, json!({"approver": "bob"}))
        .await
        .unwrap();
    refunds::transition(&mut tx, &mut r, RefundEvent::Submitted, None, json!({})).await.unwrap();
    refunds::record_provider_refund_id(&mut tx, &mut r, "pr-1").await.unwrap();
    refunds::record_provider_refund_id(&mut tx, &mut r, "pr-2").await.unwrap();
    // A writer holding a stale copy (version 0) is caught by the version guard.
    let stale = refunds::transition(&mut tx, &mut r2, RefundEvent::Submitted, None, json!({})).await;
    assert!(matches!(stale, Err(StoreError::Concurrent { expected: 0, .. })), "{stale:?}");
    tx.commit().await.unwrap();

    let mut conn = db.pool.acquire().await.unwrap();
    let stored = Refund::get(&mut conn, r.id).await.unwrap().expect("exists");
    assert_eq!((stored.state, stored.version), (RefundState::Submitted, 3));
    assert_eq!(stored.approved_by.as_deref(), Some("bob"));
    assert!(stored.decided_at.is_some());
    assert_eq!(stored.provider_refund_id.as_deref(), Some("pr-1"), "a known id is never replaced");
    let h: Vec<_> = history::of_payment(&mut conn, p.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|row| row.refund_id == Some(r.id))
        .map(|row| (row.from_state, row.to_state, row.event, row.version))
        .collect();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        h,
        [
            (None, s("requested"), s("created"), 0),
            (Some(s("requested")), s("awaiting_approval"), s("approval_required"), 1),
            (Some(s("awaiting_approval")), s("requested"), s("approved"), 2),
            (Some(s("requested")), s("submitted"), s("submitted"), 3),
        ]
    );
}

#[tokio::test]
async fn reserve_release_and_settle_move_the_payment_counters() {
    let db = db().await;
    let mut p = paid_payment(&db.pool, "o-1", 1_000).await;
    let mut tx = db.pool.begin().await.unwrap();
    let mut p2 = Payment::lock(&mut tx, p.id).await.unwrap().expect("exists");
    assert_eq!((p2.id, p2.version, p2.state), (p.id, p.version, p.state));

    balance::reserve(&mut tx, &mut p2, cny(600)).await.unwrap();
    balance::reserve(&mut tx, &mut p2, cny(400)).await.unwrap();
    assert_eq!((p2.refunded, p2.refund_in_flight), (cny(0), cny(1_000)));
    // Past what is refundable: refused, nothing written.
    let past = balance::reserve(&mut tx, &mut p2, cny(1)).await.unwrap_err();
    assert!(matches!(past, balance::Error::Refused(BalanceError::ExceedsRefundable { .. })), "{past:?}");
    assert_eq!(past.to_string(), "amount: refund of 0.01 CNY exceeds the refundable 0.00 CNY");
    let usd = Money::from_minor(1, Currency::USD).unwrap();
    assert!(matches!(
        balance::release(&mut tx, &mut p2, usd).await,
        Err(balance::Error::Refused(BalanceError::CurrencyMismatch { .. }))
    ));

    balance::release(&mut tx, &mut p2, cny(400)).await.unwrap();
    assert_eq!(
        balance::settle(&mut tx, &mut p2, cny(600)).await.unwrap(),
        PaymentEvent::RefundSucceededPartial
    );
    payments::transition(&mut tx, &mut p2, PaymentEvent::RefundSucceededPartial, None, json!({}))
        .await
        .unwrap();
    assert!(matches!(
        balance::settle(&mut tx, &mut p2, cny(1)).await,
        Err(balance::Error::Refused(BalanceError::ExceedsInFlight { .. }))
    ));
    balance::reserve(&mut tx, &mut p2, cny(400)).await.unwrap();
    assert_eq!(balance::settle(&mut tx, &mut p2, cny(400)).await.unwrap(), PaymentEvent::RefundSucceededFull);
    payments::transition(&mut tx, &mut p2, PaymentEvent::RefundSucceededFull, None, json!({})).await.unwrap();
    tx.commit().await.unwrap();

    let mut conn = db.pool.acquire().await.unwrap();
    let stored = Payment::lock(&mut conn, p.id).await.unwrap().expect("exists");
    assert_eq!(
        (stored.state, stored.refunded, stored.refund_in_flight),
        (PaymentState::Refunded, cny(1_000), cny(0))
    );
    assert_eq!(
        (stored.version, stored.refunded, stored.refund_in_flight),
        (p2.version, p2.refunded, p2.refund_in_flight)
    );

    // A refunded payment takes no more refunds, and a stale copy is caught by the guard.
    let not_refundable = balance::reserve(&mut conn, &mut stored.clone(), cny(1)).await.unwrap_err();
    assert!(matches!(not_refundable, balance::Error::NotRefundable { state: PaymentState::Refunded }));
    p.state = PaymentState::Succeeded;
    let stale = balance::reserve(&mut conn, &mut p, cny(1)).await.unwrap_err();
    assert!(matches!(stale, balance::Error::Store(StoreError::Concurrent { .. })), "{stale:?}");
}

#[tokio::test]
async fn concurrent_reserves_never_exceed_the_amount() {
    let db = db().await;
    let p = paid_payment(&db.pool, "o-1", 1_000).await;
    // 20 tasks each try to reserve 0.70 CNY of a 10.00 CNY payment: exactly 14 can.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let pool = db.pool.clone();
            tokio::spawn(async move {
                let mut tx = pool.begin().await.unwrap();
                let mut payment = Payment::lock(&mut tx, p.id).await.unwrap().expect("exists");
                match balance::reserve(&mut tx, &mut payment, cny(70)).await {
                    Ok(()) => {
                        tx.commit().await.unwrap();
                        true
                    }
                    Err(balance::Error::Refused(BalanceError::ExceedsRefundable { .. })) => false,
                    Err(e) => panic!("unexpected: {e:?}"),
                }
            })
        })
        .collect();
    let mut reserved = 0;
    for t in tasks {
        if t.await.unwrap() {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 14);
    let mut conn = db.pool.acquire().await.unwrap();
    let stored = Payment::lock(&mut conn, p.id).await.unwrap().expect("exists");
    assert_eq!((stored.refund_in_flight, stored.refunded), (cny(980), cny(0)));
}

#[tokio::test]
async fn the_database_refuses_counters_past_the_amount_whatever_the_code_does() {
    let db = db().await;
    let p = paid_payment(&db.pool, "o-1", 1_000).await;
    let err =
        sqlx::query("UPDATE payments SET refund_in_flight_minor = 600, refunded_minor = 401 WHERE id = $1")
            .bind(p.id)
            .execute(&db.pool)
            .await
            .unwrap_err();
    assert_eq!(
        constraint_violation(&err).map(|v| v.constraint),
        Some(constraints::PAYMENTS_REFUNDS_WITHIN_AMOUNT.to_owned())
    );
}

#[tokio::test]
async fn policies_default_to_no_approval_and_can_be_set() {
    let db = db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let default = policies::get(&mut conn, "m-1", Currency::CNY).await.unwrap();
    assert_eq!(default, Policy::default_for("m-1", Currency::CNY));
    assert!(!default.refund_needs_approval(cny(0), cny(i64::MAX / 2)));

    let policy =
        Policy { refund_approval_over: Some(cny(10_000)), auto_refund_paid_after_close: true, ..default };
    policies::set(&mut conn, &policy).await.unwrap();
    let stored = policies::get(&mut conn, "m-1", Currency::CNY).await.unwrap();
    assert_eq!(stored, policy);
    assert!(!stored.refund_needs_approval(cny(0), cny(10_000)), "at the threshold: no approval");
    assert!(stored.refund_needs_approval(cny(0), cny(10_001)), "strictly over: approval");
    // The threshold is the payment's total: refunded + in flight + this one.
    assert!(!stored.refund_needs_approval(cny(4_000), cny(6_000)), "a total at the threshold: no approval");
    assert!(stored.refund_needs_approval(cny(4_000), cny(6_001)), "a total over it: approval");
    assert!(stored.refund_needs_approval(cny(10_000), cny(1)), "a small refund after others: approval");
    // Another currency and another merchant keep the defaults.
    assert_eq!(policies::get(&mut conn, "m-1", Currency::USD).await.unwrap().refund_approval_over, None);
    assert_eq!(policies::get(&mut conn, "m-2", Currency::CNY).await.unwrap().refund_approval_over, None);

    // Replacing the policy; a threshold in another currency is refused.
    let none = Policy { refund_approval_over: None, ..stored.clone() };
    policies::set(&mut conn, &none).await.unwrap();
    assert_eq!(policies::get(&mut conn, "m-1", Currency::CNY).await.unwrap(), none);
    let wrong = Policy { refund_approval_over: Some(Money::from_minor(1, Currency::USD).unwrap()), ..stored };
    let err = policies::set(&mut conn, &wrong).await.unwrap_err();
    assert_eq!(err.to_string(), "refund_approval_over: must be in the policy's currency CNY (got USD)");
}

/// The dispatcher's reserve (`balance::reserve`, under the payment's lock) refuses a refund of an
/// authorised payment, saying nothing was captured; once captured in part, only that part is
/// refundable, and the database agrees.
#[tokio::test]
async fn a_refund_of_an_authorisation_is_refused_by_the_reserve_and_a_capture_opens_its_part() {
    let db = db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let new = NewPayment {
        capture_mode: paygate::domain::CaptureMode::Manual,
        id: Uuid::now_v7(),
        merchant_id: "m-1".parse().unwrap(),
        merchant_order_no: "o-manual".into(),
        provider: "mockpay".parse().unwrap(),
        pay_method: "direct".parse().unwrap(),
        order_type: "retail".into(),
        amount: cny(1_000),
        subject: "Deposit".into(),
        return_url: None,
        expires_at: None,
        metadata: json!({}),
        request_fingerprint: "fp".into(),
        reply_to: None,
        correlation_id: None,
        auth_code: None,
        payer: None,
    };
    let PaymentCreated::New(mut p) = payments::create(&mut conn, &new, None).await.unwrap() else {
        panic!("new payment")
    };
    for event in [PaymentEvent::Submitted, PaymentEvent::Authorized] {
        payments::transition(&mut conn, &mut p, event, None, json!({})).await.unwrap();
    }
    let mut locked = Payment::lock(&mut conn, p.id).await.unwrap().unwrap();
    assert_eq!((locked.state, locked.authorized_at.is_some()), (PaymentState::Authorized, true));
    let refused = balance::reserve(&mut conn, &mut locked, cny(1)).await.unwrap_err();
    assert!(
        matches!(refused, balance::Error::NotRefundable { state: PaymentState::Authorized }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("only authorised, not captured"), "{refused}");

    payments::transition(&mut conn, &mut locked, PaymentEvent::CaptureSubmitted, None, json!({}))
        .await
        .unwrap();
    payments::record_capture_request(&mut conn, &mut locked, cny(600)).await.unwrap();
    payments::transition(&mut conn, &mut locked, PaymentEvent::ProviderSucceeded, None, json!({}))
        .await
        .unwrap();
    payments::record_captured(&mut conn, &mut locked, cny(600)).await.unwrap();
    let mut captured = Payment::lock(&mut conn, p.id).await.unwrap().unwrap();
    assert_eq!(captured.captured_amount(), cny(600));
    let over = balance::reserve(&mut conn, &mut captured, cny(601)).await.unwrap_err();
    assert!(matches!(over, balance::Error::Refused(BalanceError::ExceedsRefundable { .. })), "{over:?}");
    balance::reserve(&mut conn, &mut captured, cny(600)).await.expect("what was captured");
}
