//! What an operator sees with payctl after real payments went through the system: an order's
//! whole story, and the needs-attention list.

use paygate_e2e::System;
use paygate_test_support::{run_to_exit, workspace_binary};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_show_tells_the_whole_story_and_attention_list_the_open_items() {
    let system = System::start().await;
    system.pay("o-story", "12.00", "direct").await;
    system.wait_for("o-story", "payment.succeeded", WITHIN).await;
    system.refund("o-story", "r-story", "2.00", "alice").await;
    system.wait_for("o-story", "payment.partially_refunded", WITHIN).await;

    let payctl = workspace_binary("payctl");
    let env = [("DATABASE_URL", system.db.url.as_str())];
    let out = run_to_exit(&payctl, &["payment", "show", "o-story", "--merchant", "m-1"], &env, WITHIN).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for expected in [
        "state partially_refunded",
        "r-story",
        "refund_succeeded_partial",
        "POST",
        "/v1/refunds",
        "refund_query",
    ] {
        assert!(out.stdout.contains(expected), "missing {expected:?} in:\n{}", out.stdout);
    }

    let out =
        run_to_exit(&payctl, &["payment", "show", "o-story", "--merchant", "m-1", "--json"], &env, WITHIN)
            .await;
    let story: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let states: Vec<&str> =
        story["transitions"].as_array().unwrap().iter().map(|t| t["to_state"].as_str().unwrap()).collect();
    assert_eq!(
        states,
        [
            "created",
            "pending",
            "succeeded",
            "requested",
            "submitted",
            "processing",
            "succeeded",
            "partially_refunded"
        ]
    );
    assert!(
        story["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| { x["request_headers"]["x-mockpay-signature"] == "[redacted]" })
    );

    let out = run_to_exit(&payctl, &["payment", "show", "nope"], &env, WITHIN).await;
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr
            .contains("is not a payment id (a UUID); to look up a merchant order number, add --merchant"),
        "{}",
        out.stderr
    );

    let out = run_to_exit(&payctl, &["attention", "list"], &env, WITHIN).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("nothing needs attention"), "{}", out.stdout);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_show_names_the_trade_numbers_the_provider_knows_the_payment_and_its_refunds_by() {
    let system = System::start().await;
    system.pay("o-trade", "12.00", "direct").await;
    system.wait_for("o-trade", "payment.succeeded", WITHIN).await;
    system.refund("o-trade", "r-trade", "2.00", "alice").await;
    system.wait_for("o-trade", "payment.partially_refunded", WITHIN).await;
    let payment = system.payment("o-trade").await.unwrap();
    let trade_no = paygate::providers::adapter::trade_no(payment.id);
    // mockpay knows the payment by it.
    assert_eq!(system.truth(payment.id).await.charges, 1);

    let payctl = workspace_binary("payctl");
    let env = [("DATABASE_URL", system.db.url.as_str())];
    let out = run_to_exit(&payctl, &["payment", "show", "o-trade", "--merchant", "m-1"], &env, WITHIN).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains(&format!("trade no {trade_no}")), "no trade number in:\n{}", out.stdout);
    let out =
        run_to_exit(&payctl, &["payment", "show", "o-trade", "--merchant", "m-1", "--json"], &env, WITHIN)
            .await;
    let story: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(story["trade_no"], trade_no.as_str());
    let refund = &story["refunds"][0];
    assert_eq!(refund["refund_no"], "r-trade");
    let refund_id: uuid::Uuid = serde_json::from_value(refund["id"].clone()).unwrap();
    assert_eq!(refund["trade_no"], paygate::providers::adapter::trade_no(refund_id).as_str());
    assert!(out.stdout.contains(refund["trade_no"].as_str().unwrap()));
    system.stop().await;
}
