//! `payctl callback`: an endpoint is added with its secret shown once (and never listed), refused
//! with the flag and the rule when its URL, event kind or order type is wrong, listed and
//! removed; exhausted deliveries are listed with their last attempt, shown with every attempt,
//! and re-sent.

use paygate_test_support::{TestDb, run_to_exit};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_payctl");
const WITHIN: Duration = Duration::from_secs(30);

async fn payctl(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let env = [("DATABASE_URL", db.url.as_str())];
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run_to_exit(BIN, &all, &env, WITHIN).await;
    assert_eq!(out.code, Some(0), "payctl {args:?}: {}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("payctl {args:?}: {e}: {}", out.stdout))
}

/// payctl's stderr for a command that must fail.
async fn refused(db: &TestDb, args: &[&str]) -> String {
    let env = [("DATABASE_URL", db.url.as_str())];
    let out = run_to_exit(BIN, args, &env, WITHIN).await;
    assert_ne!(out.code, Some(0), "payctl {args:?} must fail: {}", out.stdout);
    out.stderr
}

#[tokio::test]
async fn an_endpoint_is_added_with_its_secret_shown_once_listed_and_removed() {
    let db = TestDb::new().await;
    let added = payctl(
        &db,
        &[
            "callback",
            "add",
            "--merchant",
            "m-1",
            "--url",
            "https://shop.example/cb",
            "--event",
            "payment.succeeded",
            "--event",
            "refund.succeeded",
            "--order-type",
            "retail",
        ],
    )
    .await;
    let (id, secret) = (added["endpoint"]["id"].as_str().unwrap(), added["secret"].as_str().unwrap());
    assert!(id.starts_with("cbe_") && secret.starts_with("whsec_") && secret.len() == 6 + 64, "{added}");
    assert_eq!(
        added["endpoint"]["event_kinds"],
        serde_json::json!(["payment.succeeded", "refund.succeeded"])
    );
    assert_eq!(added["endpoint"]["order_types"], serde_json::json!(["retail"]));

    let listed = payctl(&db, &["callback", "list", "--merchant", "m-1"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret[6..]), "a list never shows a secret: {listed}");
    assert!(payctl(&db, &["callback", "list", "--merchant", "m-2"]).await.as_array().unwrap().is_empty());

    let removed = payctl(&db, &["callback", "remove", id]).await;
    assert!(removed["removed_at"].is_string(), "{removed}");
    assert!(payctl(&db, &["callback", "list"]).await.as_array().unwrap().is_empty(), "removed: not listed");
    assert_eq!(payctl(&db, &["callback", "list", "--all"]).await.as_array().unwrap().len(), 1);
    assert!(refused(&db, &["callback", "remove", "cbe_nope"]).await.contains("no callback endpoint"));
}

#[tokio::test]
async fn what_cannot_be_delivered_to_is_refused_naming_the_flag_and_the_rule() {
    let db = TestDb::new().await;
    let add = |url: &'static str, extra: &'static [&'static str]| {
        let mut args = vec!["callback", "add", "--merchant", "m-1", "--url", url];
        args.extend_from_slice(extra);
        args
    };
    for (args, says) in [
        (add("ftp://shop.example/cb", &[]), "--url: must be an http:// or https:// URL"),
        (add("javascript:alert(1)", &[]), "--url: must be an http:// or https:// URL"),
        (add("/relative/cb", &[]), "--url: must be an absolute http:// or https:// URL"),
        (add("https://u:p@shop.example/cb", &[]), "--url: must not carry credentials"),
        (add("https://shop.example/cb", &["--event", "payment.paid"]), "--event: must be one of"),
        (add("https://shop.example/cb", &["--order-type", "Retail"]), "--order-type: must be 1 to 32"),
    ] {
        let stderr = refused(&db, &args).await;
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert!(
        refused(&db, &["callback", "add", "--merchant", "a b", "--url", "http://x/"])
            .await
            .contains("--merchant")
    );
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM callback_endpoints").fetch_one(&db.pool).await.unwrap();
    assert_eq!(count, 0, "nothing refused was stored");
}

#[tokio::test]
async fn exhausted_deliveries_are_listed_shown_and_resent() {
    let db = TestDb::new().await;
    let added =
        payctl(&db, &["callback", "add", "--merchant", "m-1", "--url", "http://127.0.0.1:9/cb"]).await;
    let endpoint = added["endpoint"]["id"].as_str().unwrap();
    // A delivery that gave up after two attempts, as compensation-scheduler leaves it, and one
    // still pending.
    let exhausted: i64 = sqlx::query_scalar(
        "INSERT INTO callback_deliveries (endpoint_id, message_id, event_id, kind, payment_id, sequence, body, state,
                                          attempts, schedule_step, next_attempt_at, finished_at)
         VALUES ($1, gen_random_uuid(), gen_random_uuid(), 'payment.succeeded', gen_random_uuid(), 4, '{}',
                 'exhausted', 2, 1, NULL, now())
         RETURNING id",
    )
    .bind(endpoint)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let pending: i64 = sqlx::query_scalar(
        "INSERT INTO callback_deliveries (endpoint_id, message_id, event_id, kind, payment_id, sequence, body,
                                          next_attempt_at)
         VALUES ($1, gen_random_uuid(), gen_random_uuid(), 'payment.closed', gen_random_uuid(), 1, '{}', now())
         RETURNING id",
    )
    .bind(endpoint)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO callback_attempts (delivery_id, attempt, started_at, latency_ms, status, response_excerpt, error)
         VALUES ($1, 1, now(), 12, 500, 'boom', 'answered 500 Internal Server Error, not 2xx'),
                ($1, 2, now(), 3, NULL, NULL, 'could not connect: connection refused')",
    )
    .bind(exhausted)
    .execute(&db.pool)
    .await
    .unwrap();

    let failed = payctl(&db, &["callback", "failed", "--merchant", "m-1"]).await;
    let rows = failed.as_array().unwrap();
    assert_eq!(rows.len(), 1, "only the exhausted one: {failed}");
    assert_eq!(rows[0]["id"], exhausted);
    assert_eq!(rows[0]["attempts"], 2);
    assert_eq!(rows[0]["last_error"], "could not connect: connection refused");
    assert!(payctl(&db, &["callback", "failed", "--merchant", "m-2"]).await.as_array().unwrap().is_empty());

    let shown = payctl(&db, &["callback", "show", &exhausted.to_string()]).await;
    let attempts = shown["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (attempts[0]["status"].as_i64(), attempts[0]["response_excerpt"].as_str()),
        (Some(500), Some("boom"))
    );

    let env = [("DATABASE_URL", db.url.as_str())];
    let table = run_to_exit(BIN, &["callback", "failed"], &env, WITHIN).await;
    assert!(table.stdout.contains("payctl callback resend"), "{}", table.stdout);

    let resent = payctl(&db, &["callback", "resend", &exhausted.to_string()]).await;
    assert_eq!(resent["state"], "pending");
    assert!(resent["next_attempt_at"].is_string(), "due: {resent}");
    let step: i32 = sqlx::query_scalar("SELECT schedule_step FROM callback_deliveries WHERE id = $1")
        .bind(exhausted)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(step, 0, "a new round of the schedule");
    assert!(payctl(&db, &["callback", "failed"]).await.as_array().unwrap().is_empty());
    let stderr = refused(&db, &["callback", "resend", &pending.to_string()]).await;
    assert!(stderr.contains("is pending; only an exhausted delivery is re-sent"), "{stderr}");
    assert!(refused(&db, &["callback", "resend", "999999"]).await.contains("no callback delivery 999999"));

    // Removing the endpoint ends what was pending: listed, not sent, not re-sent.
    payctl(&db, &["callback", "remove", endpoint]).await;
    let failed = payctl(&db, &["callback", "failed"]).await;
    let ids: Vec<i64> = failed.as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect();
    assert!(ids.contains(&pending) && ids.contains(&exhausted), "both ended: {failed}");
    let stderr = refused(&db, &["callback", "resend", &pending.to_string()]).await;
    assert!(stderr.contains("was removed"), "{stderr}");
}
