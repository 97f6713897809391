//! payctl as an operator runs it.

use paygate_test_support::{TestDb, run_to_exit};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_payctl");
const WITHIN: Duration = Duration::from_secs(30);

/// deploy/rabbitmq/definitions.json is what SREs import; it must be exactly what the code
/// declares. When the topology changes, regenerate it: `payctl topology definitions`.
#[tokio::test]
async fn the_committed_definitions_file_matches_the_code() {
    let out = run_to_exit(BIN, &["topology", "definitions", "--out", "-"], &[], WITHIN).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/rabbitmq/definitions.json"
    ))
    .expect("deploy/rabbitmq/definitions.json exists");
    assert!(
        committed == out.stdout,
        "deploy/rabbitmq/definitions.json is stale: run `cargo run -p payctl -- topology definitions`"
    );
}

#[tokio::test]
async fn definitions_follow_the_prefix_and_shard_settings() {
    let env = [("AMQP_PREFIX", "acme"), ("ORDER_SHARDS", "2")];
    let out =
        run_to_exit(BIN, &["topology", "definitions", "--out", "-", "--vhost", "pay"], &env, WITHIN).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let defs: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let queues: Vec<&str> =
        defs["queues"].as_array().unwrap().iter().map(|q| q["name"].as_str().unwrap()).collect();
    assert!(queues.contains(&"acme.orders.shard.1"), "{queues:?}");
    assert!(!queues.contains(&"acme.orders.shard.2"), "{queues:?}");
    assert!(defs["queues"].as_array().unwrap().iter().all(|q| q["vhost"] == "pay"));
}

#[tokio::test]
async fn migrate_applies_the_schema() {
    let db = TestDb::new().await;
    let out = run_to_exit(BIN, &["migrate"], &[("DATABASE_URL", db.url.as_str())], WITHIN).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let outbox: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('outbox')::text").fetch_one(&db.pool).await.unwrap();
    assert_eq!(outbox.as_deref(), Some("outbox"));
}
