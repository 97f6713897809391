//! Checks that every paygate service binary must pass, written once and called from each
//! service's own tests with its binary (`env!("CARGO_BIN_EXE_<name>")`).

use crate::{ServiceProcess, TestDb, TestVhost, eventually, run_to_exit};
use std::time::Duration;

const EXIT_WITHIN: Duration = Duration::from_secs(30);

/// `--help` exits 0 and documents every environment variable the service reads.
pub async fn help_documents_the_configuration(bin: &str) {
    let out = run_to_exit(bin, &["--help"], &[], EXIT_WITHIN).await;
    assert_eq!(out.code, Some(0), "--help failed: {}", out.stderr);
    for var in ["DATABASE_URL", "AMQP_URL", "HTTP_ADDR", "ORDER_SHARDS", "LOG_FORMAT", "migrate"] {
        assert!(out.stdout.contains(var), "--help does not mention {var}:\n{}", out.stdout);
    }
}

/// The one non-empty line on stderr; fails if there are more, or a panic.
fn single_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected exactly one line on stderr, got:\n{stderr}");
    assert!(!stderr.contains("panicked"), "a panic is not a clear message:\n{stderr}");
    lines[0].to_owned()
}

/// With PostgreSQL unreachable the service says so in one line, naming the URL, and exits non-zero.
pub async fn unreachable_database_is_reported_in_one_line(bin: &str) {
    let url = "postgres://postgres@127.0.0.1:1/paygate";
    let out = run_to_exit(bin, &[], &[("DATABASE_URL", url), ("HTTP_ADDR", "127.0.0.1:0")], EXIT_WITHIN).await;
    assert_ne!(out.code, Some(0), "must exit non-zero");
    let line = single_line(&out.stderr);
    assert!(line.contains("cannot reach PostgreSQL at postgres://postgres@127.0.0.1:1/paygate"), "{line}");
    assert!(line.contains("scripts/up"), "the line must say how to start it: {line}");
}

/// With RabbitMQ unreachable the service says so in one line, without the password.
pub async fn unreachable_broker_is_reported_in_one_line(bin: &str) {
    let db = TestDb::new().await;
    let amqp = "amqp://guest:secret@127.0.0.1:1/%2f";
    let env = [("DATABASE_URL", db.url.as_str()), ("AMQP_URL", amqp), ("HTTP_ADDR", "127.0.0.1:0")];
    let out = run_to_exit(bin, &[], &env, EXIT_WITHIN).await;
    assert_ne!(out.code, Some(0), "must exit non-zero");
    let line = single_line(&out.stderr);
    assert!(line.contains("cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/%2f"), "{line}");
    assert!(!line.contains("secret"), "the password leaked: {line}");
}

/// A malformed value names the variable and the expected form, and the service exits non-zero.
pub async fn malformed_configuration_names_the_variable(bin: &str) {
    for (var, value, form) in [
        ("ORDER_SHARDS", "zero", "whole number from 1 to 256"),
        ("HTTP_ADDR", "localhost", "HOST:PORT"),
        ("DATABASE_URL", "mysql://localhost/x", "postgres://"),
    ] {
        let out = run_to_exit(bin, &[], &[(var, value)], EXIT_WITHIN).await;
        assert_ne!(out.code, Some(0), "{var}={value} must be rejected");
        assert!(out.stderr.contains(var) && out.stderr.contains(form), "{var}={value}:\n{}", out.stderr);
    }
}

/// `migrate` creates a missing database and applies the migrations; running it twice is harmless.
pub async fn migrate_creates_the_database_and_is_repeatable(bin: &str) {
    let db = TestDb::new().await;
    let fresh = format!("{}_migrate", db.name);
    let url = crate::database::with_database(&db.url, &fresh);
    for _ in 0..2 {
        let out = run_to_exit(bin, &["migrate"], &[("DATABASE_URL", url.as_str())], EXIT_WITHIN).await;
        assert_eq!(out.code, Some(0), "migrate failed: {}{}", out.stdout, out.stderr);
    }
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_database WHERE datname = $1",
    )
    .bind(&fresh)
    .fetch_one(&db.pool)
    .await
    .expect("query pg_database");
    assert_eq!(tables, 1, "migrate did not create {fresh}");
    crate::database::drop_database(&fresh).await;
}

/// The service starts against a fresh database and vhost, declares the topology, reports
/// healthy, ready and metrics, and stops with exit code 0 on SIGTERM.
pub async fn starts_ready_and_stops_cleanly_on_sigterm(bin: &str) {
    let db = TestDb::new().await;
    let vhost = TestVhost::new().await;
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("AMQP_URL", vhost.amqp_url.as_str()),
        ("HTTP_ADDR", "127.0.0.1:0"),
    ];
    let mut service = ServiceProcess::spawn(bin, &env);
    let base = service.http_base(Duration::from_secs(60)).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    eventually("/readyz to answer 200", Duration::from_secs(30), || async {
        http.get(format!("{base}/readyz")).send().await.map(|r| r.status() == 200).unwrap_or(false)
    })
    .await;
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("# EOF"), "metrics must be Prometheus text");

    for queue in ["paygate.commands.ingest", "paygate.orders.shard.0", "paygate.orders.shard.3"] {
        assert!(vhost.queue_exists(queue).await, "{queue} was not declared");
    }

    service.signal("TERM").await;
    let code = service.wait(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "SIGTERM must end in exit 0; output:\n{}", service.output().join("\n"));
}

/// Generates the standard binary tests for a service crate's integration tests:
/// `paygate_test_support::service_binary_tests!(env!("CARGO_BIN_EXE_ingest"));`
#[macro_export]
macro_rules! service_binary_tests {
    ($bin:expr) => {
        $crate::service_binary_tests!(@each $bin;
            help_documents_the_configuration,
            malformed_configuration_names_the_variable,
            unreachable_database_is_reported_in_one_line,
            unreachable_broker_is_reported_in_one_line,
            migrate_creates_the_database_and_is_repeatable,
            starts_ready_and_stops_cleanly_on_sigterm);
    };
    (@each $bin:expr; $($check:ident),+) => {
        $(
            #[tokio::test]
            async fn $check() {
                $crate::service_checks::$check($bin).await;
            }
        )+
    };
}
