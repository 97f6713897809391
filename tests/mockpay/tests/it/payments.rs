//! The payment flow: pay methods, idempotency, direct charges, declines, close, expiry, the
//! customer's pay URL, and request validation.

use crate::support::{Env, order_id, pay_body};
use mockpay::{Fault, Operation};
use serde_json::json;

fn is_txn_id(v: &serde_json::Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 19 && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().unwrap() > (1u64 << 53)
}

#[tokio::test]
async fn each_pay_method_answers_waiting_with_its_action() {
    let env = Env::start().await;
    let base = env.mp.base_url().to_owned();
    for method in ["redirect", "form", "qr", "client_secret"] {
        let order = order_id();
        let a = env.pay(&pay_body(&order, 1200, method)).await;
        assert_eq!(a.code(), "0000", "{method}: {:?}", a.body);
        let info = a.info();
        assert!(is_txn_id(&info["transactionId"]), "{method}: {info}");
        assert_eq!(info["status"], "WAITING");
        let txn = info["transactionId"].as_str().unwrap();
        let action = &info["action"];
        match method {
            "redirect" => assert_eq!(action, &json!({"method": "GET", "url": format!("{base}/pay/{txn}")})),
            "form" => {
                assert_eq!(action["method"], "POST");
                assert_eq!(action["url"], format!("{base}/pay/{txn}"));
                assert_eq!(action["form"]["transactionId"], txn);
            }
            "qr" => assert_eq!(action, &json!({"qrCode": format!("mockpay://pay/{txn}")})),
            _ => assert!(action["clientSecret"].as_str().unwrap().starts_with(txn)),
        }
        let truth = env.admin.payment(&order).await.unwrap().unwrap();
        assert_eq!((truth.status.as_str(), truth.charges), ("WAITING", 0));
    }
}

#[tokio::test]
async fn paying_twice_with_the_same_order_id_returns_the_same_transaction_and_charges_once() {
    let env = Env::start().await;
    let order = order_id();
    let body = pay_body(&order, 1500, "redirect");
    let first = env.pay(&body).await;
    let again = env.pay(&body).await;
    assert_eq!(again.code(), "0000");
    assert_eq!(first.info()["transactionId"], again.info()["transactionId"]);

    assert_eq!(env.admin.pay(&order).await.unwrap().return_code, "0000");
    // The customer paying again takes nothing more.
    assert_eq!(env.admin.pay(&order).await.unwrap().return_code, "0000");
    let replay = env.pay(&body).await;
    assert_eq!(replay.code(), "0000");
    assert_eq!(replay.info()["transactionId"], first.info()["transactionId"]);
    assert_eq!(replay.info()["status"], "SUCCEEDED");
    assert!(replay.info().get("action").is_none(), "no action once paid");
    assert_eq!(env.admin.payment(&order).await.unwrap().unwrap().charges, 1);
}

#[tokio::test]
async fn the_same_order_id_with_different_parameters_is_1172() {
    let env = Env::start().await;
    let order = order_id();
    assert_eq!(env.pay(&pay_body(&order, 1500, "direct")).await.code(), "0000");
    for changed in [pay_body(&order, 1501, "direct"), pay_body(&order, 1500, "qr"), {
        let mut b = pay_body(&order, 1500, "direct");
        b["currency"] = json!("USD");
        b
    }] {
        let a = env.pay(&changed).await;
        assert_eq!((a.status, a.code()), (200, "1172"), "{changed}");
    }
    assert_eq!(env.admin.payment(&order).await.unwrap().unwrap().charges, 1);
}

#[tokio::test]
async fn a_direct_payment_is_charged_at_once() {
    let env = Env::start().await;
    let order = env.paid_order(990, None).await;
    let q = env.query(&order).await;
    assert_eq!(q.code(), "0000");
    let info = q.info();
    assert_eq!(info["status"], "SUCCEEDED");
    assert_eq!(info["amount"], 990);
    assert_eq!(info["currency"], "JPY");
    assert_eq!(info["refundedAmount"], 0);
    assert_eq!(info["refunds"], json!([]));
    assert!(info["paidAt"].as_str().unwrap().ends_with('Z'));
    assert!(is_txn_id(&info["transactionId"]));
    let truth = env.admin.payment(&order).await.unwrap().unwrap();
    assert_eq!(truth.charges, 1);
}

#[tokio::test]
async fn a_declined_direct_payment_is_final_and_replays_its_decline() {
    let env = Env::start().await;
    let order = order_id();
    let mut entry = mockpay::ScriptEntry::new(&order, Operation::Pay, Fault::Decline);
    entry.decline_code = Some("1102".into());
    env.admin.script(entry).await.unwrap();
    let body = pay_body(&order, 700, "direct");
    let a = env.pay(&body).await;
    assert_eq!((a.status, a.code()), (200, "1102"));
    assert_eq!(a.info()["status"], "DECLINED");
    // The same request again answers the stored outcome; nothing is charged.
    let again = env.pay(&body).await;
    assert_eq!(again.code(), "1102");
    assert_eq!(again.info()["transactionId"], a.info()["transactionId"]);
    let q = env.query(&order).await;
    assert_eq!((q.code(), q.info()["status"].as_str()), ("0000", Some("DECLINED")));
    assert_eq!(q.info()["declineCode"], "1102");
    assert_eq!(env.admin.payment(&order).await.unwrap().unwrap().charges, 0);
}

#[tokio::test]
async fn a_waiting_payment_can_be_declined_by_script_when_the_customer_pays() {
    let env = Env::start().await;
    let order = order_id();
    env.admin.script_fault(&order, Operation::Pay, Fault::Decline, 1).await.unwrap();
    // The decline is taken at the charge, not at the creation.
    assert_eq!(env.pay(&pay_body(&order, 700, "qr")).await.info()["status"], "WAITING");
    let paid = env.admin.pay(&order).await.unwrap();
    assert_eq!(paid.return_code, "1101");
    assert_eq!(paid.info.unwrap().status, "DECLINED");
    // And the admin can decline another one directly.
    let other = order_id();
    env.pay(&pay_body(&other, 700, "qr")).await;
    assert_eq!(env.admin.decline(&other, Some("1102")).await.unwrap().return_code, "1102");
    assert_eq!(env.query(&other).await.info()["declineCode"], "1102");
}

#[tokio::test]
async fn unknown_orders_are_1150() {
    let env = Env::start().await;
    assert_eq!(env.query("nope").await.code(), "1150");
    let a = env.client.post("/v1/payments/nope/close", &json!({})).await.unwrap();
    assert_eq!(a.code(), "1150");
    assert!(env.admin.payment("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn close_before_and_after_payment() {
    let env = Env::start().await;
    let order = order_id();
    env.pay(&pay_body(&order, 300, "redirect")).await;
    let close = |o: String| {
        let c = env.client.clone();
        async move { c.post(&format!("/v1/payments/{o}/close"), &json!({})).await.unwrap() }
    };
    let a = close(order.clone()).await;
    assert_eq!((a.code(), a.info()["status"].as_str()), ("0000", Some("CLOSED")));
    // Idempotent.
    let a = close(order.clone()).await;
    assert_eq!((a.code(), a.info()["status"].as_str()), ("0000", Some("CLOSED")));
    // A closed payment cannot be paid.
    assert_eq!(env.admin.pay(&order).await.unwrap().return_code, "1180");
    assert_eq!(env.admin.payment(&order).await.unwrap().unwrap().charges, 0);

    let paid = env.paid_order(300, None).await;
    let a = close(paid.clone()).await;
    assert_eq!((a.status, a.code()), (200, "1160"));
    assert_eq!(env.query(&paid).await.info()["status"], "SUCCEEDED");
}

#[tokio::test]
async fn the_customer_pay_url_pays_and_redirects_to_the_return_url() {
    let env = Env::start().await;
    let order = order_id();
    let mut body = pay_body(&order, 2500, "redirect");
    body["returnUrl"] = json!("https://shop.example/return?x=1");
    let a = env.pay(&body).await;
    let url = a.info()["action"]["url"].as_str().unwrap().to_owned();
    let txn = a.info()["transactionId"].as_str().unwrap().to_owned();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = browser.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!("https://shop.example/return?x=1&orderId={order}&transactionId={txn}&status=SUCCEEDED")
    );
    assert_eq!(env.query(&order).await.info()["status"], "SUCCEEDED");

    // Without a returnUrl the pay page answers the envelope; the form POST works the same way.
    let order2 = order_id();
    let a = env.pay(&pay_body(&order2, 100, "form")).await;
    let r = browser.post(a.info()["action"]["url"].as_str().unwrap()).send().await.unwrap();
    let env2: serde_json::Value = r.json().await.unwrap();
    assert_eq!(env2["returnCode"], "0000");
    assert_eq!(env2["info"]["status"], "SUCCEEDED");
}

#[tokio::test]
async fn waiting_payments_expire_at_expires_at() {
    let env = Env::start().await;
    let order = order_id();
    let mut body = pay_body(&order, 100, "qr");
    body["expiresAt"] = json!((chrono::Utc::now() + chrono::Duration::milliseconds(300)).to_rfc3339());
    assert_eq!(env.pay(&body).await.info()["status"], "WAITING");
    env.payment_status_becomes(&order, "EXPIRED").await;
    assert_eq!(env.admin.pay(&order).await.unwrap().return_code, "1180");
    // Replaying the creation answers the expired payment, it does not start a new one.
    assert_eq!(env.pay(&body).await.info()["status"], "EXPIRED");

    let forced = order_id();
    env.pay(&pay_body(&forced, 100, "qr")).await;
    assert_eq!(env.admin.expire(&forced).await.unwrap().info.unwrap().status, "EXPIRED");
    assert_eq!(env.query(&forced).await.info()["status"], "EXPIRED");
}

#[tokio::test]
async fn invalid_requests_are_1110_naming_the_field() {
    let env = Env::start().await;
    let cases = [
        (json!({"orderId": "o1", "currency": "JPY", "description": "d", "payMethod": "qr"}), "amount"),
        (
            json!({"orderId": "o1", "amount": "100", "currency": "JPY", "description": "d", "payMethod": "qr"}),
            "amount",
        ),
        (
            json!({"orderId": "o1", "amount": 0, "currency": "JPY", "description": "d", "payMethod": "qr"}),
            "amount",
        ),
        (
            json!({"orderId": "o1", "amount": 100, "currency": "jpy", "description": "d", "payMethod": "qr"}),
            "currency",
        ),
        (
            json!({"orderId": "o1", "amount": 100, "currency": "JPY", "description": "d", "payMethod": "card"}),
            "payMethod",
        ),
        (
            json!({"orderId": "o/1", "amount": 100, "currency": "JPY", "description": "d", "payMethod": "qr"}),
            "orderId",
        ),
        (json!({"amount": 100, "currency": "JPY", "description": "d", "payMethod": "qr"}), "orderId"),
        (
            json!({"orderId": "o1", "amount": 100, "currency": "JPY", "description": "d", "payMethod": "qr", "tip": 1}),
            "tip",
        ),
        (
            json!({"orderId": "o1", "amount": 100, "currency": "JPY", "description": "d", "payMethod": "qr", "expiresAt": "tomorrow"}),
            "expiresAt",
        ),
    ];
    for (body, field) in cases {
        let a = env.pay(&body).await;
        assert_eq!((a.status, a.code()), (200, "1110"), "{body}");
        let msg = a.body["returnMessage"].as_str().unwrap();
        assert!(msg.contains(field), "{msg:?} should name {field}");
    }
    let a = env.client.send("POST", "/v1/payments", b"{not json".to_vec(), Default::default()).await.unwrap();
    assert_eq!(a.code(), "1110");
}
