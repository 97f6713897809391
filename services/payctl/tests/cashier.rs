//! `payctl cashier methods`: a merchant's cashier methods are set per provider, in order,
//! replaced by the next `set` of that provider, removed by a `set` without methods, and a method
//! a browser cannot take is refused with its rule; `payctl cashier name` sets, replaces and clears
//! the name the page shows, and refuses a name the page could not show.

use paygate_test_support::{TestDb, run_to_exit};
use serde_json::Value;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_payctl");
const WITHIN: Duration = Duration::from_secs(30);

async fn payctl(db: &TestDb, args: &[&str]) -> Value {
    let env = [("DATABASE_URL", db.url.as_str())];
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run_to_exit(BIN, &all, &env, WITHIN).await;
    assert_eq!(out.code, Some(0), "payctl {args:?}: {}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("payctl {args:?}: {e}: {}", out.stdout))
}

fn methods(listed: &Value) -> Vec<String> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{}:{}", m["provider"].as_str().unwrap(), m["pay_method"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn methods_are_set_per_provider_in_order_and_checked() {
    let db = TestDb::new().await;
    let set = ["cashier", "methods", "set", "--merchant", "m-1"];
    let first = payctl(
        &db,
        &[&set[..], &["--provider", "mockpay", "--method", "qr", "--method", "redirect"]].concat(),
    )
    .await;
    assert_eq!(methods(&first), ["mockpay:qr", "mockpay:redirect"]);
    payctl(&db, &[&set[..], &["--provider", "alipay", "--method", "form"]].concat()).await;
    let replaced =
        payctl(&db, &[&set[..], &["--provider", "mockpay", "--method", "redirect"]].concat()).await;
    assert_eq!(methods(&replaced), ["alipay:form", "mockpay:redirect"]);
    payctl(
        &db,
        &["cashier", "methods", "set", "--merchant", "m-2", "--provider", "mockpay", "--method", "qr"],
    )
    .await;
    let removed = payctl(&db, &[&set[..], &["--provider", "alipay"]].concat()).await;
    assert_eq!(methods(&removed), ["mockpay:redirect"]);
    let all = payctl(&db, &["cashier", "methods", "list"]).await;
    assert_eq!(all.as_array().unwrap().len(), 2);

    let env = [("DATABASE_URL", db.url.as_str())];
    let refused = run_to_exit(
        BIN,
        &["cashier", "methods", "set", "--merchant", "m-1", "--provider", "mockpay", "--method", "barcode"],
        &env,
        WITHIN,
    )
    .await;
    assert_ne!(refused.code, Some(0));
    assert!(refused.stderr.contains("--method") && refused.stderr.contains("browser"), "{}", refused.stderr);
}

#[tokio::test]
async fn a_merchants_name_is_set_replaced_cleared_and_checked() {
    let db = TestDb::new().await;
    let named = payctl(&db, &["cashier", "name", "--merchant", "m-1", "--name", " Tea House 茶馆 "]).await;
    assert_eq!(named["display_name"], "Tea House 茶馆");
    let renamed = payctl(&db, &["cashier", "name", "--merchant", "m-1", "--name", "Tea House"]).await;
    assert_eq!(renamed["display_name"], "Tea House");
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT merchant_id, display_name FROM merchant_names")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(stored, [("m-1".to_owned(), "Tea House".to_owned())]);
    let cleared = payctl(&db, &["cashier", "name", "--merchant", "m-1", "--clear"]).await;
    assert_eq!(cleared["display_name"], Value::Null);

    let env = [("DATABASE_URL", db.url.as_str())];
    for (args, words) in [
        (&["cashier", "name", "--merchant", "m-1", "--name", "two\nlines"][..], "control characters"),
        (&["cashier", "name", "--merchant", "m-1", "--name", "  "][..], "1 to 100 characters"),
        (&["cashier", "name", "--merchant", "m 1", "--name", "Shop"][..], "--merchant"),
        (&["cashier", "name", "--merchant", "m-1"][..], "--name"),
    ] {
        let refused = run_to_exit(BIN, args, &env, WITHIN).await;
        assert_ne!(refused.code, Some(0), "{args:?}");
        assert!(refused.stderr.contains(words), "{args:?}: {}", refused.stderr);
    }
}
