//! The payment store against a real database: pre-commit creation that is idempotent on the
//! merchant's order number, and state changes that only happen through the state machine and
//! are always recorded.

use paygate::domain::{AuthCode, Currency, Money, PayMethod, Payer};
use paygate::state_machine::{PaymentEvent, PaymentState};
use paygate::store::StoreError;
use paygate::store::StoredRow;
use paygate::store::history;
use paygate::store::payments::{self, Applied, Created, NewPayment, Payment};
use paygate_test_support::TestDb;
use serde_json::json;
use uuid::Uuid;

async fn db() -> TestDb {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.expect("migrate");
    db
}

fn new_payment(order_no: &str) -> NewPayment {
    NewPayment {
        capture_mode: Default::default(),
        id: Uuid::now_v7(),
        merchant_id: "m-1".parse().unwrap(),
        merchant_order_no: order_no.into(),
        provider: "mockpay".parse().unwrap(),
        pay_method: "qr".parse().unwrap(),
        order_type: "retail".into(),
        amount: Money::from_minor(1234, Currency::CNY).unwrap(),
        subject: "Coffee".into(),
        return_url: None,
        expires_at: None,
        metadata: json!({"table": 7}),
        request_fingerprint: "fp-1".into(),
        reply_to: None,
        correlation_id: None,
        auth_code: None,
        payer: None,
    }
}

#[tokio::test]
async fn creating_is_idempotent_on_the_order_number() {
    let db = db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let first = payments::create(&mut conn, &new_payment("o-1"), None).await.unwrap();
    let Created::New(created) = first else { panic!("the first creation must be new") };
    assert_eq!(created.state, PaymentState::Created);
    assert_eq!(created.amount, Money::from_minor(1234, Currency::CNY).unwrap());
    assert_eq!(created.version, 0);

    let again = payments::create(&mut conn, &new_payment("o-1"), None).await.unwrap();
    let Created::Existing(existing) = again else { panic!("the second creation must find the first") };
    assert_eq!(existing.id, created.id, "the existing payment, not the new id");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM payments").fetch_one(&db.pool).await.unwrap();
    assert_eq!(rows, 1);
    let h = history::of_payment(&mut conn, created.id).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].from_state.as_deref(), h[0].to_state.as_str(), h[0].version), (None, "created", 0));
}

#[tokio::test]
async fn concurrent_creations_of_one_order_make_one_payment() {
    let db = db().await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let pool = db.pool.clone();
            tokio::spawn(async move {
                let mut tx = pool.begin().await.unwrap();
                let created = payments::create(&mut tx, &new_payment("o-race"), None).await.unwrap();
                tx.commit().await.unwrap();
                matches!(created, Created::New(_))
            })
        })
        .collect();
    let mut new = 0;
    for t in tasks {
        new += usize::from(t.await.unwrap());
    }
    assert_eq!(new, 1, "exactly one creation wins");
}

#[tokio::test]
async fn transitions_go_through_the_machine_and_are_recorded() {
    let db = db().await;
    let mut tx = db.pool.begin().await.unwrap();
    let Created::New(p) = payments::create(&mut tx, &new_payment("o-2"), None).await.unwrap() else {
        panic!()
    };
    let mut p = Payment::lock(&mut tx, p.id).await.unwrap().unwrap();
    let cause = Uuid::now_v7();

    let moved = payments::transition(&mut tx, &mut p, PaymentEvent::Submitted, Some(cause), json!({})).await;
    assert_eq!(
        moved.unwrap(),
        Applied::Moved { from: PaymentState::Created, to: PaymentState::Pending, version: 1 }
    );
    let moved =
        payments::transition(&mut tx, &mut p, PaymentEvent::ProviderSucceeded, None, json!({"code": "0000"}));
    assert!(matches!(moved.await.unwrap(), Applied::Moved { to: PaymentState::Succeeded, version: 2, .. }));

    // A repeat of the same outcome writes nothing.
    let repeat =
        payments::transition(&mut tx, &mut p, PaymentEvent::ProviderSucceeded, None, json!({})).await;
    assert_eq!(repeat.unwrap(), Applied::AlreadyApplied);
    // A contradicting outcome is refused and writes nothing.
    let refused = payments::transition(&mut tx, &mut p, PaymentEvent::ProviderFailed, None, json!({})).await;
    assert!(matches!(refused, Err(StoreError::Refused(_))), "{refused:?}");
    tx.commit().await.unwrap();

    let mut conn = db.pool.acquire().await.unwrap();
    let stored = Payment::lock(&mut conn, p.id).await.unwrap().unwrap();
    assert_eq!((stored.state, stored.version), (PaymentState::Succeeded, 2));
    let h = history::of_payment(&mut conn, p.id).await.unwrap();
    let steps: Vec<(&str, &str, i64)> =
        h.iter().map(|r| (r.event.as_str(), r.to_state.as_str(), r.version)).collect();
    assert_eq!(
        steps,
        [("created", "created", 0), ("submitted", "pending", 1), ("provider_succeeded", "succeeded", 2)]
    );
    assert_eq!(h[1].cause_message_id, Some(cause));
    assert_eq!(h[2].detail, json!({"code": "0000"}));
}

#[tokio::test]
async fn a_stale_version_is_refused() {
    let db = db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let Created::New(mut p) = payments::create(&mut conn, &new_payment("o-3"), None).await.unwrap() else {
        panic!()
    };
    let mut stale = p.clone();
    payments::transition(&mut conn, &mut p, PaymentEvent::Submitted, None, json!({})).await.unwrap();
    let result = payments::transition(&mut conn, &mut stale, PaymentEvent::Submitted, None, json!({})).await;
    assert!(matches!(result, Err(StoreError::Concurrent { expected: 0, .. })), "{result:?}");
}

#[tokio::test]
async fn attention_has_one_open_item_per_subject_and_kind() {
    use paygate::store::attention::{self, Raise};
    let db = db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let Created::New(p) = payments::create(&mut conn, &new_payment("o-4"), None).await.unwrap() else {
        panic!()
    };
    let item = Raise {
        payment_id: p.id,
        refund_id: None,
        kind: "unknown_after_last_retry",
        detail: json!({"attempts": 5}),
    };
    assert!(attention::raise(&mut conn, &item).await.unwrap(), "the first raise opens an item");
    assert!(!attention::raise(&mut conn, &item).await.unwrap(), "raising it again is harmless");
    let open = attention::open(&mut conn, 10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].detail, json!({"attempts": 5}));

    assert!(attention::resolve(&mut conn, open[0].id, "ops-alice", "queried by hand: paid").await.unwrap());
    assert!(
        !attention::resolve(&mut conn, open[0].id, "ops-bob", "again").await.unwrap(),
        "already resolved"
    );
    assert!(attention::open(&mut conn, 10).await.unwrap().is_empty());
    assert!(attention::raise(&mut conn, &item).await.unwrap(), "a resolved item does not block a new one");
}

#[tokio::test]
async fn a_stored_value_that_does_not_parse_is_an_error_naming_its_column() {
    let db = db().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let Created::New(p) = payments::create(&mut conn, &new_payment("o-1"), None).await.unwrap() else {
        panic!("new")
    };
    assert_eq!(Payment::get(&mut conn, p.id).await.unwrap().map(|s| s.pay_method), Some(p.pay_method));
    sqlx::query("UPDATE payments SET pay_method = 'card' WHERE id = $1")
        .bind(p.id)
        .execute(&db.pool)
        .await
        .unwrap();
    let err = Payment::get(&mut conn, p.id).await.unwrap_err();
    let StoreError::Corrupt { entity, id, column, .. } = &err else { panic!("{err:?}") };
    assert_eq!((*entity, *id, *column), ("payment", p.id, "pay_method"));
    assert!(err.to_string().contains("stored pay_method is not valid"), "{err}");
}

#[tokio::test]
async fn a_barcode_payments_code_is_kept_while_it_may_be_sent_and_forgotten_after() {
    let db = db().await;
    let code = "281234567890123456";
    let barcode = |order_no: &str| NewPayment {
        capture_mode: Default::default(),
        pay_method: PayMethod::Barcode,
        auth_code: Some(AuthCode::parse(code).unwrap()),
        ..new_payment(order_no)
    };
    let stored_code = |id: Uuid| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<String>>("SELECT auth_code FROM payments WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let mut tx = db.pool.begin().await.unwrap();
    let Created::New(p) = payments::create(&mut tx, &barcode("o-bar"), None).await.unwrap() else { panic!() };
    let mut p = Payment::lock(&mut tx, p.id).await.unwrap().unwrap();
    assert_eq!(p.auth_code.as_ref().map(AuthCode::expose), Some(code), "read back for the dispatcher");
    let shown = format!("{p:?} {}", serde_json::to_string(&p).unwrap());
    assert!(!shown.contains(code), "never printed nor serialised: {shown}");
    payments::transition(&mut tx, &mut p, PaymentEvent::Submitted, None, json!({})).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        stored_code(p.id).await.as_deref(),
        Some(code),
        "pending: a redelivered dispatch sends it again"
    );

    let mut tx = db.pool.begin().await.unwrap();
    let mut p = Payment::lock(&mut tx, p.id).await.unwrap().unwrap();
    payments::transition(&mut tx, &mut p, PaymentEvent::ProviderFailed, None, json!({})).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stored_code(p.id).await, None, "answered (declined): the code is forgotten");
    let p = Payment::get(&mut db.pool.acquire().await.unwrap(), p.id).await.unwrap().unwrap();
    assert!(p.auth_code.is_none());

    // Nobody can store one where it does not belong.
    let qr = NewPayment { auth_code: Some(AuthCode::parse(code).unwrap()), ..new_payment("o-qr") };
    let e = payments::create(&mut db.pool.acquire().await.unwrap(), &qr, None).await.unwrap_err();
    assert!(format!("{e:?}").contains("payments_auth_code_only_for_barcode"), "{e:?}");
    let e = sqlx::query("UPDATE payments SET auth_code = $2 WHERE id = $1")
        .bind(p.id)
        .bind(code)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("payments_auth_code_only_while_sendable"), "{e}");
}

#[tokio::test]
async fn a_payer_is_stored_and_read_back() {
    let db = db().await;
    let payer = Payer {
        openid: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()),
        client_ip: Some("2001:db8::7".parse().unwrap()),
    };
    let new = NewPayment {
        capture_mode: Default::default(),
        pay_method: PayMethod::ClientSecret,
        payer: Some(payer.clone()),
        ..new_payment("o-jsapi")
    };
    let mut conn = db.pool.acquire().await.unwrap();
    let Created::New(p) = payments::create(&mut conn, &new, None).await.unwrap() else { panic!() };
    assert_eq!(p.payer, Some(payer.clone()));
    let again = Payment::get(&mut conn, p.id).await.unwrap().unwrap();
    assert_eq!(again.payer, Some(payer));
    let Created::New(old) = payments::create(&mut conn, &new_payment("o-old"), None).await.unwrap() else {
        panic!()
    };
    assert_eq!((old.payer, old.auth_code), (None, None));
}
