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

/// `payctl topology declare` (deploy/k8s's topology job) leaves the broker as the services would:
/// work queues, their dead-letter queues and the retry ladder exist before any service starts.
#[tokio::test]
async fn topology_declare_declares_what_the_services_would() {
    let vhost = paygate_test_support::TestVhost::new().await;
    let env = [("AMQP_URL", vhost.amqp_url.as_str()), ("AMQP_PREFIX", "decl"), ("ORDER_SHARDS", "2")];
    assert!(!vhost.queue_exists("decl.orders.shard.0").await, "a fresh vhost has no queues");
    let out = run_to_exit(BIN, &["topology", "declare"], &env, WITHIN).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stdout.contains("guest:guest"), "the password is not printed: {}", out.stdout);
    for queue in
        ["decl.orders.shard.0", "decl.orders.shard.1", "decl.orders.shard.1.dlq", "decl.commands.ingest"]
    {
        assert!(vhost.queue_exists(queue).await, "{queue} was not declared");
    }
    // Declaring again is harmless (a rollout runs it every time).
    let again = run_to_exit(BIN, &["topology", "declare"], &env, WITHIN).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
}

/// The definitions import on the real broker, the services' declaration then finds everything
/// equivalent, and the dead-letter policy takes the delivery limit off every `.dlq` (RabbitMQ 4.x
/// would otherwise drop a dead letter after twenty looks) and off nothing else.
#[tokio::test]
async fn imported_definitions_hold_and_their_policy_covers_the_dead_letter_queues() {
    let vhost = paygate_test_support::TestVhost::new().await;
    let env = [("AMQP_PREFIX", "imp"), ("ORDER_SHARDS", "2")];
    let out =
        run_to_exit(BIN, &["topology", "definitions", "--out", "-", "--vhost", &vhost.name], &env, WITHIN)
            .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    vhost.import_definitions(&out.stdout).await;
    let env = [("AMQP_URL", vhost.amqp_url.as_str()), ("AMQP_PREFIX", "imp"), ("ORDER_SHARDS", "2")];
    let declared = run_to_exit(BIN, &["topology", "declare"], &env, WITHIN).await;
    assert_eq!(declared.code, Some(0), "declaring over the import: {}", declared.stderr);
    for queue in ["imp.orders.shard.0.dlq", "imp.orders.shard.1.dlq", "imp.commands.ingest.dlq"] {
        // The broker applies a policy to its queues a moment after the import.
        let q = paygate_test_support::eventually_some(&format!("the policy on {queue}"), WITHIN, || async {
            vhost.queue(queue).await.filter(|q| q["policy"] == "imp-dead-letters")
        })
        .await;
        assert_eq!(q["effective_policy_definition"]["delivery-limit"], i64::from(i32::MAX), "{queue}: {q}");
    }
    for queue in ["imp.orders.shard.0", "imp.commands.ingest", "imp.retry.5s"] {
        let q = vhost.queue(queue).await.unwrap_or_else(|| panic!("{queue} imported"));
        assert!(q["policy"].is_null() || q["policy"] == "", "{queue} is not a dead-letter queue: {q}");
    }
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

/// `payctl demo` against a whole system (ingest and a dispatcher with mockpay, from the e2e
/// harness): every demo payment and refund reaches its expected state, and it exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_drives_its_batch_through_a_whole_system() {
    let system = paygate_e2e::System::start().await;
    let env = [
        ("AMQP_URL", system.vhost.amqp_url.as_str()),
        ("AMQP_PREFIX", paygate_e2e::system::PREFIX),
        ("MOCKPAY_URL", system.mockpay.base_url()),
        ("DEMO_DEADLINE_SECS", "60"),
    ];
    let out = run_to_exit(BIN, &["demo"], &env, Duration::from_secs(90)).await;
    assert_eq!(out.code, Some(0), "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(": 7 of 7 as expected"), "{}", out.stdout);
    for expected in [
        "payment.action_required",
        "payment.failed",
        "refund.succeeded",
        "payment.refunded",
        "command.rejected",
    ] {
        assert!(out.stdout.contains(expected), "no {expected} in:\n{}", out.stdout);
    }
    system.stop().await;
}

/// When the provider declines every charge, the demo's payments do not reach their expected
/// states: it says which and exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fails_when_a_payment_misses_its_expected_state() {
    let system = paygate_e2e::System::start().await;
    let declines = mockpay::FaultSettings { decline_ppm: 1_000_000, ..Default::default() };
    system.mockpay.admin().set_faults(&declines).await.unwrap();
    let env = [
        ("AMQP_URL", system.vhost.amqp_url.as_str()),
        ("AMQP_PREFIX", paygate_e2e::system::PREFIX),
        ("MOCKPAY_URL", system.mockpay.base_url()),
        ("DEMO_DEADLINE_SECS", "20"),
    ];
    let out = run_to_exit(BIN, &["demo"], &env, Duration::from_secs(60)).await;
    assert_eq!(out.code, Some(1), "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("FAIL") && out.stdout.contains("ended failed instead of succeeded"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("did not reach their expected state"), "{}", out.stderr);
    system.stop().await;
}

#[tokio::test]
async fn a_bad_demo_setting_names_its_flag_and_the_rule() {
    let out = run_to_exit(BIN, &["demo", "--deadline-secs", "0"], &[], WITHIN).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("DEMO_DEADLINE_SECS") && out.stderr.contains("from 1 to 3600"),
        "{}",
        out.stderr
    );
    let out = run_to_exit(BIN, &["demo", "--mockpay-url", "127.0.0.1:7070"], &[], WITHIN).await;
    assert!(out.stderr.contains("MOCKPAY_URL") && out.stderr.contains("http://"), "{}", out.stderr);
}
