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

/// Every service's provider settings (`PROVIDERS`, `PAYGATE_PROVIDER_MOCKPAY_…`): a mockpay that
/// nothing in these checks calls.
pub const PROVIDER_ENV: [(&str, &str); 4] = [
    ("PROVIDERS", "mockpay"),
    ("PAYGATE_PROVIDER_MOCKPAY_URL", "http://127.0.0.1:9"),
    ("PAYGATE_PROVIDER_MOCKPAY_MERCHANT", "paygate"),
    ("PAYGATE_PROVIDER_MOCKPAY_SECRET", "service-checks-secret"),
];

/// `env` and [`PROVIDER_ENV`].
fn with_providers<'a>(env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    env.iter().copied().chain(PROVIDER_ENV).collect()
}

/// A provider that is named but misconfigured stops a service that uses providers at start, in
/// one line naming the provider and the setting, without printing its secret; so does a name
/// paygate has no adapter for.
pub async fn a_misconfigured_provider_stops_the_service_naming_it(bin: &str) {
    let db = TestDb::new().await;
    let base = [("DATABASE_URL", db.url.as_str()), ("HTTP_ADDR", "127.0.0.1:0"), ("API_ADDR", "127.0.0.1:0")];
    let mut env = with_providers(&base);
    env.retain(|(k, _)| *k != "PAYGATE_PROVIDER_MOCKPAY_SECRET");
    let out = run_to_exit(bin, &[], &env, EXIT_WITHIN).await;
    assert_ne!(out.code, Some(0), "must exit non-zero");
    let line = single_line(&out.stderr);
    assert!(line.contains("provider mockpay: PAYGATE_PROVIDER_MOCKPAY_SECRET must be set"), "{line}");

    let mut env = with_providers(&base);
    env.push(("PAYGATE_PROVIDER_MOCKPAY_TIMEOUT", "soon"));
    let out = run_to_exit(bin, &[], &env, EXIT_WITHIN).await;
    assert_ne!(out.code, Some(0), "must exit non-zero");
    let line = single_line(&out.stderr);
    assert!(line.contains("provider mockpay: PAYGATE_PROVIDER_MOCKPAY_TIMEOUT: expected"), "{line}");
    assert!(!line.contains("service-checks-secret"), "the secret leaked: {line}");

    let mut env = with_providers(&base);
    env.retain(|(k, _)| *k != "PROVIDERS");
    env.push(("PROVIDERS", "mockpay,nopay"));
    let out = run_to_exit(bin, &[], &env, EXIT_WITHIN).await;
    assert_ne!(out.code, Some(0), "must exit non-zero");
    let line = single_line(&out.stderr);
    assert!(line.contains("provider nopay: PAYGATE_PROVIDER_NOPAY_KIND is \"nopay\""), "{line}");
}

/// With PostgreSQL unreachable the service says so in one line, naming the URL, and exits non-zero.
pub async fn unreachable_database_is_reported_in_one_line(bin: &str) {
    let url = "postgres://postgres@127.0.0.1:1/paygate";
    let env =
        with_providers(&[("DATABASE_URL", url), ("HTTP_ADDR", "127.0.0.1:0"), ("API_ADDR", "127.0.0.1:0")]);
    let out = run_to_exit(bin, &[], &env, EXIT_WITHIN).await;
    assert_ne!(out.code, Some(0), "must exit non-zero");
    let line = single_line(&out.stderr);
    assert!(line.contains("cannot reach PostgreSQL at postgres://postgres@127.0.0.1:1/paygate"), "{line}");
    assert!(line.contains("scripts/up"), "the line must say how to start it: {line}");
}

/// With RabbitMQ unreachable the service says so in one line, without the password.
pub async fn unreachable_broker_is_reported_in_one_line(bin: &str) {
    let db = TestDb::new().await;
    let amqp = "amqp://guest:secret@127.0.0.1:1/%2f";
    let env = with_providers(&[
        ("DATABASE_URL", db.url.as_str()),
        ("AMQP_URL", amqp),
        ("HTTP_ADDR", "127.0.0.1:0"),
        ("API_ADDR", "127.0.0.1:0"),
    ]);
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
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
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
    let env = with_providers(&[
        ("DATABASE_URL", db.url.as_str()),
        ("AMQP_URL", vhost.amqp_url.as_str()),
        ("HTTP_ADDR", "127.0.0.1:0"),
        ("API_ADDR", "127.0.0.1:0"),
    ]);
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
    let text = metrics.text().await.unwrap();
    assert!(text.contains("# EOF"), "metrics must be Prometheus text:\n{text}");
    let name = bin.rsplit('/').next().unwrap();
    assert!(text.contains(&format!("paygate_build_info{{service=\"{name}\"")), "no build info:\n{text}");

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
            starts_ready_and_stops_cleanly_on_sigterm,
            survives_losing_and_regaining_the_servers);
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

/// `url` with its `host:port` replaced by `addr`.
fn with_authority(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{userinfo}{addr}{tail}")
}

/// The index of the first output line at or after `from` that contains `needle`.
fn line_after(service: &ServiceProcess, from: usize, needle: &str) -> Option<usize> {
    service.output().iter().enumerate().skip(from).find(|(_, l)| l.contains(needle)).map(|(i, _)| i)
}

/// Losing RabbitMQ, then PostgreSQL, while running: /readyz reports which is gone, the logs say
/// it was lost and when it is back, and the service recovers by itself.
pub async fn survives_losing_and_regaining_the_servers(bin: &str) {
    let db = TestDb::new().await;
    let vhost = TestVhost::new().await;
    let pg = crate::TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let mq = crate::TcpProxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let (db_url, amqp_url) = (with_authority(&db.url, pg.addr()), with_authority(&vhost.amqp_url, mq.addr()));
    let env = with_providers(&[
        ("DATABASE_URL", db_url.as_str()),
        ("AMQP_URL", amqp_url.as_str()),
        ("HTTP_ADDR", "127.0.0.1:0"),
        ("API_ADDR", "127.0.0.1:0"),
    ]);
    let mut service = ServiceProcess::spawn(bin, &env);
    let base = service.http_base(Duration::from_secs(60)).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let readyz = |want: u16, dependency: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let Ok(r) = http.get(format!("{base}/readyz")).send().await else { return false };
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            status == want && (want == 200 || body[dependency] == "unreachable")
        }
    };
    let within = Duration::from_secs(60);
    eventually("ready at start", within, || readyz(200, "")).await;

    for (proxy, dependency, lost, back) in [
        (&mq, "broker", "RabbitMQ unavailable, reconnecting", "RabbitMQ connection recovered"),
        (&pg, "database", "PostgreSQL lost", "PostgreSQL reachable"),
    ] {
        let mark = service.output().len();
        proxy.cut();
        eventually(&format!("/readyz to report the {dependency} unreachable"), within, || {
            readyz(503, dependency)
        })
        .await;
        eventually(&format!("a log line saying: {lost}"), within, || async {
            line_after(&service, mark, lost).is_some()
        })
        .await;
        proxy.restore();
        eventually(&format!("/readyz to recover after the {dependency} is back"), within, || readyz(200, ""))
            .await;
        eventually(&format!("a log line saying: {back}"), within, || async {
            line_after(&service, mark, lost).zip(line_after(&service, mark, back)).is_some_and(|(l, b)| b > l)
        })
        .await;
    }

    // SIGINT (Ctrl-C) stops as cleanly as SIGTERM does.
    service.signal("INT").await;
    assert_eq!(service.wait(Duration::from_secs(30)).await, Some(0), "{}", service.output().join("\n"));
}
