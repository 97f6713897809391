//! The hosted cashier's rows (migrations 0033, 0034) against a real PostgreSQL: a session per
//! merchant order number, its one choice taken once, half a choice refused by the schema, and a
//! merchant's methods replaced per provider in order.

use chrono::{Duration, Utc};
use paygate::db::migrate;
use paygate::store::cashier::{self, NewSession, Opened};
use paygate_test_support::TestDb;
use serde_json::json;

async fn migrated() -> TestDb {
    let db = TestDb::new().await;
    migrate(&db.pool).await.expect("migrations apply");
    db
}

#[tokio::test]
async fn a_session_is_opened_once_per_order_number_and_chosen_once() {
    let db = migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let template =
        json!({"merchant_id": "m-1", "merchant_order_no": "o-1", "amount": "1.00", "currency": "CNY"});
    let new = NewSession {
        merchant_id: "m-1",
        merchant_order_no: "o-1",
        pay_template: &template,
        request_fingerprint: "sha256:a",
        return_url: Some("https://shop.example/back"),
        token_expires_at: Utc::now() + Duration::minutes(30),
    };
    let Opened::New(session) = cashier::open(&mut conn, &new).await.unwrap() else { panic!("a new session") };
    let again = NewSession { request_fingerprint: "sha256:b", ..new.clone() };
    assert_eq!(cashier::open(&mut conn, &again).await.unwrap(), Opened::Existing(session.clone()));
    let other_merchant = NewSession { merchant_id: "m-2", ..new.clone() };
    assert!(matches!(cashier::open(&mut conn, &other_merchant).await.unwrap(), Opened::New(_)));

    assert!(cashier::choose(&mut conn, session.id, "mockpay", "qr").await.unwrap());
    assert!(
        !cashier::choose(&mut conn, session.id, "mockpay", "redirect").await.unwrap(),
        "the choice is taken once"
    );
    let chosen = cashier::find(&mut conn, session.id).await.unwrap().unwrap();
    assert_eq!(
        (chosen.chosen_provider.as_deref(), chosen.chosen_pay_method.as_deref()),
        (Some("mockpay"), Some("qr"))
    );
    assert!(chosen.chosen_at.is_some());

    let half = sqlx::query("UPDATE cashier_sessions SET chosen_pay_method = NULL WHERE id = $1")
        .bind(session.id)
        .execute(&mut *conn)
        .await
        .expect_err("half a choice is refused");
    assert!(half.to_string().contains("cashier_sessions_chosen_together"), "{half}");
}

#[tokio::test]
async fn methods_are_replaced_per_provider_and_only_browser_methods_are_stored() {
    let db = migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let keys = |ms: Vec<cashier::CashierMethod>| ms.iter().map(|m| m.key()).collect::<Vec<_>>();
    let set =
        cashier::set_methods(&mut conn, "m-1", "mockpay", &["qr".into(), "redirect".into()]).await.unwrap();
    assert_eq!(keys(set), ["mockpay:qr", "mockpay:redirect"]);
    cashier::set_methods(&mut conn, "m-1", "stripe", &["client_secret".into()]).await.unwrap();
    let set = cashier::set_methods(&mut conn, "m-1", "mockpay", &["form".into()]).await.unwrap();
    assert_eq!(keys(set), ["stripe:client_secret", "mockpay:form"]);
    let refused = cashier::set_methods(&mut conn, "m-1", "mockpay", &["barcode".into()]).await;
    assert!(refused.unwrap_err().to_string().contains("cashier_methods_pay_method"));
}
