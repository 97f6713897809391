//! `payctl cashier methods`: a merchant's cashier methods are set per provider, in order,
//! replaced by the next `set` of that provider, removed by a `set` without methods, and a method
//! a browser cannot take is refused with its rule.

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
