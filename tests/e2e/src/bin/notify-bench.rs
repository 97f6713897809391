//! The webhook benchmark: notify-handler against a bare endpoint doing only the same durable
//! work, under the same load.
//!
//! It creates a fresh database and vhost, starts notify-handler (in this process; build with
//! `--release`), and beside it the *floor*: a bare axum endpoint that does one
//! `INSERT … ON CONFLICT DO NOTHING` into the inbox and one confirmed publish to the orders
//! exchange, nothing else (no signature, no parsing, no checks). It creates payments, then
//! drives both endpoints with valid, signed mockpay notifications (a unique notification id per
//! request, so none is a duplicate), generated and signed before each run:
//! 1. a fixed offered load (default 500 req/s, open loop: latency is measured from each
//!    request's scheduled time, so a stall is not hidden by the generator waiting);
//! 2. saturation: a fixed number of concurrent closed-loop workers, as fast as answers come.
//!
//! It prints, per endpoint, acknowledgements per second and p50/p99/p99.9 latency, and last:
//! `notify: <X> req/s, floor: <Y> req/s, ratio: <X/Y>, p99@500: <ms> ms` (X, Y at saturation;
//! p99 of notify-handler at the fixed load).
//!
//! `cargo run --release -p paygate-e2e --bin notify-bench -- --help`

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use clap::Parser;
use paygate::broker::publisher::Publisher;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate::domain::{Currency, Money};
use paygate::messages::orders::OrderWork;
use paygate::messages::to_shard::to_shard;
use paygate::providers::adapter::trade_no;
use paygate::providers::mockpay::notification::signed_headers;
use paygate::providers::mockpay::signing::Secret;
use paygate::runtime::entrypoint::Service;
use paygate::store::payments::{self, NewPayment};
use paygate_test_support::{TestDb, TestVhost};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SECRET: &str = "bench-signing-secret";
const MERCHANT: &str = "paygate";
const SHARDS: u16 = 4;

#[derive(Debug, Parser)]
#[command(name = "notify-bench", about = "Benchmark notify-handler's webhook against a bare floor endpoint")]
struct Args {
    /// The fixed offered load, requests per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// How long the fixed-load run lasts, seconds.
    #[arg(long, default_value_t = 10)]
    fixed_secs: u64,
    /// Concurrent workers at saturation.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long the saturation run lasts, seconds.
    #[arg(long, default_value_t = 10)]
    saturation_secs: u64,
    /// Database connections of each server (notify-handler and the floor alike).
    #[arg(long, default_value_t = 16)]
    db_connections: u32,
    /// Payments the notifications are about.
    #[arg(long, default_value_t = 200)]
    payments: usize,
}

/// One prepared request.
struct Prepared {
    path: String,
    headers: Vec<(&'static str, String)>,
    body: String,
}

/// Latencies (µs) and how many answers were acknowledgements.
struct Run {
    micros: Vec<u64>,
    acks: usize,
    errors: usize,
    took: Duration,
}

impl Run {
    fn per_second(&self) -> u64 {
        let ms = u64::try_from(self.took.as_millis()).unwrap_or(u64::MAX).max(1);
        u64::try_from(self.acks).unwrap_or(0) * 1000 / ms
    }

    fn percentile(&self, per_mille: usize) -> u64 {
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return 0;
        }
        let i = (sorted.len() * per_mille / 1000).min(sorted.len() - 1);
        sorted[i]
    }

    fn describe(&self, name: &str, what: &str) -> String {
        format!(
            "{name:<7} {what:<24} acks/s {:>6}  errors {:>5}  p50 {:>9}  p99 {:>9}  p99.9 {:>9}",
            self.per_second(),
            self.errors,
            ms(self.percentile(500)),
            ms(self.percentile(990)),
            ms(self.percentile(999)),
        )
    }
}

/// Microseconds as milliseconds with three decimals, in integers.
fn ms(micros: u64) -> String {
    format!("{}.{:03} ms", micros / 1000, micros % 1000)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await?;
    let vhost = TestVhost::new().await;

    let notify = start_notify_handler(&db, &vhost, args.db_connections).await?;
    let floor = start_floor(&db, &vhost, args.db_connections).await?;
    let payment_ids = create_payments(&db, args.payments).await?;
    eprintln!("notify-handler on {}, floor on {}, {} payments", notify.0, floor.0, payment_ids.len());

    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(256).build()?;
    let counter = AtomicUsize::new(0);
    let prepare = |n: usize| -> Vec<Prepared> {
        let now = chrono::Utc::now();
        (0..n)
            .map(|_| {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let payment = payment_ids[i % payment_ids.len()];
                let trade = trade_no(payment);
                let body = json!({
                    "notificationId": format!("ntf_bench_{i}"), "eventType": "PAYMENT.SUCCEEDED",
                    "merchantId": MERCHANT, "orderId": trade, "transactionId": "2000000000000000001",
                    "amount": 1000, "currency": "CNY", "occurredAt": "2026-01-01T00:00:05.123Z"
                })
                .to_string();
                let headers = signed_headers(
                    &Secret::new(SECRET),
                    body.as_bytes(),
                    now,
                    &Uuid::new_v4().simple().to_string(),
                );
                Prepared { path: format!("/notify/mockpay/{trade}"), headers, body }
            })
            .collect()
    };

    let fixed_n = usize::try_from(u64::from(args.rate) * args.fixed_secs).unwrap_or(usize::MAX);
    let mut lines = Vec::new();
    let mut results = Vec::new();
    for (name, base) in [("notify", &notify.0), ("floor", &floor.0)] {
        // Warm-up: connections, pools, caches.
        fixed_rate(&client, base, prepare(usize::try_from(args.rate).unwrap_or(500)), args.rate).await;
        let fixed = fixed_rate(&client, base, prepare(fixed_n), args.rate).await;
        lines.push(fixed.describe(name, &format!("fixed {} req/s", args.rate)));
        // Enough for 6000 acks/s; a faster run ends early and is measured over what it took.
        let total = usize::try_from(6_000 * args.saturation_secs).unwrap_or(60_000);
        let saturated = saturate(
            &client,
            base,
            prepare(total),
            args.concurrency,
            Duration::from_secs(args.saturation_secs),
        )
        .await;
        lines.push(saturated.describe(name, &format!("saturation ({} workers)", args.concurrency)));
        results.push((fixed, saturated));
    }
    for line in &lines {
        println!("{line}");
    }
    let (notify_fixed, notify_sat) = &results[0];
    let (_, floor_sat) = &results[1];
    let (x, y) = (notify_sat.per_second(), floor_sat.per_second().max(1));
    let ratio = x * 1000 / y;
    println!(
        "notify: {x} req/s, floor: {y} req/s, ratio: {}.{:03}, p99@{}: {} ms",
        ratio / 1000,
        ratio % 1000,
        args.rate,
        ms(notify_fixed.percentile(990)).trim_end_matches(" ms")
    );
    notify.1.cancel();
    floor.1.cancel();
    Ok(())
}

/// Sends the requests at `rate` per second on a fixed schedule, each on its own task.
async fn fixed_rate(client: &reqwest::Client, base: &str, requests: Vec<Prepared>, rate: u32) -> Run {
    let interval_us = 1_000_000 / u64::from(rate.max(1));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, request) in requests.into_iter().enumerate() {
        let due = start + Duration::from_micros(interval_us * u64::try_from(i).unwrap_or(0));
        tokio::time::sleep_until(due.into()).await;
        let (client, base) = (client.clone(), base.to_owned());
        tasks.spawn(async move {
            let ok = send(&client, &base, &request).await;
            (ok, u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX))
        });
    }
    let mut run = Run { micros: Vec::new(), acks: 0, errors: 0, took: Duration::ZERO };
    while let Some(Ok((ok, micros))) = tasks.join_next().await {
        run.micros.push(micros);
        if ok { run.acks += 1 } else { run.errors += 1 }
    }
    run.took = start.elapsed();
    run
}

/// `workers` closed loops, each sending its share back to back, for at most `limit`.
async fn saturate(
    client: &reqwest::Client,
    base: &str,
    requests: Vec<Prepared>,
    workers: usize,
    limit: Duration,
) -> Run {
    let start = Instant::now();
    let mut shares: Vec<Vec<Prepared>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, r) in requests.into_iter().enumerate() {
        shares[i % workers].push(r);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for share in shares {
        let (client, base) = (client.clone(), base.to_owned());
        tasks.spawn(async move {
            let mut out = Vec::new();
            for request in share {
                if start.elapsed() >= limit {
                    break;
                }
                let sent = Instant::now();
                let ok = send(&client, &base, &request).await;
                out.push((ok, u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX)));
            }
            out
        });
    }
    let mut run = Run { micros: Vec::new(), acks: 0, errors: 0, took: Duration::ZERO };
    while let Some(Ok(out)) = tasks.join_next().await {
        for (ok, micros) in out {
            run.micros.push(micros);
            if ok { run.acks += 1 } else { run.errors += 1 }
        }
    }
    run.took = start.elapsed();
    run
}

/// One request; true if acknowledged (HTTP 200 with mockpay's `0000`).
async fn send(client: &reqwest::Client, base: &str, request: &Prepared) -> bool {
    let mut builder = client.post(format!("{base}{}", request.path)).body(request.body.clone());
    for (k, v) in &request.headers {
        builder = builder.header(*k, v);
    }
    match builder.send().await {
        Ok(response) if response.status() == 200 => {
            response.text().await.is_ok_and(|body| body.contains("\"0000\""))
        }
        _ => false,
    }
}

async fn start_notify_handler(
    db: &TestDb,
    vhost: &TestVhost,
    connections: u32,
) -> anyhow::Result<(String, CancellationToken)> {
    let connections = connections.to_string();
    let cli = notify_handler::configuration::Cli::try_parse_from([
        "notify-handler",
        "--database-url",
        &db.url,
        "--database-max-connections",
        &connections,
        "--amqp-url",
        &vhost.amqp_url,
        "--order-shards",
        &SHARDS.to_string(),
        "--http-addr",
        "127.0.0.1:0",
        "--providers",
        "mockpay",
        "--provider-setting",
        "PAYGATE_PROVIDER_MOCKPAY_URL=http://127.0.0.1:9",
        "--provider-setting",
        &format!("PAYGATE_PROVIDER_MOCKPAY_MERCHANT={MERCHANT}"),
        "--provider-setting",
        &format!("PAYGATE_PROVIDER_MOCKPAY_SECRET={SECRET}"),
    ])?;
    let app = notify_handler::startup::Application::build(cli.config)
        .await
        .map_err(|e| anyhow::anyhow!("notify-handler: {e}"))?;
    let base = format!("http://{}", app.local_addr());
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { app.run_until_stopped(token).await });
    // Ready once the forwarding connection is up.
    let client = reqwest::Client::builder().no_proxy().build()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
        anyhow::ensure!(Instant::now() < deadline, "notify-handler did not get ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The forwarding publisher comes up with the health connection; give it its first session.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok((base, stop))
}

/// The floor: the same durable work and nothing else.
struct Floor {
    db: sqlx::PgPool,
    publisher: Publisher,
    topology: Topology,
}

async fn floor_handler(
    State(floor): State<Arc<Floor>>,
    Path((_provider, trade)): Path<(String, String)>,
    body: String,
) -> (StatusCode, &'static str) {
    let Ok(payment_id) = Uuid::try_parse(&trade) else { return (StatusCode::NOT_FOUND, "") };
    let id = Uuid::now_v7().to_string();
    let inserted: Result<Option<(i64,)>, sqlx::Error> = sqlx::query_as(
        "INSERT INTO notifications (provider, provider_notification_id, payment_id, merchant_trade_no, headers, body)
         VALUES ('mockpay', $1, $2, $3, '{}', $4) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&id)
    .bind(payment_id)
    .bind(&trade)
    .bind(&body)
    .fetch_optional(&floor.db)
    .await;
    let Ok(Some((row,))) = inserted else { return (StatusCode::SERVICE_UNAVAILABLE, "") };
    let work = OrderWork::Notification { payment_id, notification_id: row };
    let confirmed = match to_shard(&floor.topology, &work).publish(&floor.publisher).await {
        Ok(pending) => pending.confirmed_within(Duration::from_secs(3)).await.is_ok(),
        Err(_) => false,
    };
    if confirmed {
        (StatusCode::OK, r#"{"returnCode":"0000"}"#)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "")
    }
}

async fn start_floor(
    db: &TestDb,
    vhost: &TestVhost,
    connections: u32,
) -> anyhow::Result<(String, CancellationToken)> {
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(connections).connect(&db.url).await?;
    let conn = lapin::Connection::connect(&vhost.amqp_url, lapin::ConnectionProperties::default()).await?;
    let publisher = Publisher::new(&conn).await?;
    let topology = Topology::new(TopologyConfig { order_shards: SHARDS, ..TopologyConfig::default() })?;
    let floor = Arc::new(Floor { db: pool, publisher, topology });
    let app = axum::Router::new().route("/notify/{provider}/{trade}", post(floor_handler)).with_state(floor);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let _conn = conn;
        axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await
    });
    Ok((base, stop))
}

async fn create_payments(db: &TestDb, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut conn = db.pool.acquire().await?;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = Uuid::now_v7();
        let new = NewPayment {
            capture_mode: Default::default(),
            id,
            merchant_id: "m-bench".parse().unwrap(),
            merchant_order_no: format!("bench-{i}"),
            provider: "mockpay".parse().unwrap(),
            pay_method: "qr".parse().unwrap(),
            order_type: "retail".into(),
            amount: Money::from_minor(1000, Currency::CNY)?,
            subject: "bench".into(),
            return_url: None,
            expires_at: None,
            metadata: json!({}),
            request_fingerprint: "bench".into(),
            reply_to: None,
            correlation_id: None,
            auth_code: None,
            payer: None,
        };
        payments::create(&mut conn, &new, None).await?;
        ids.push(id);
    }
    Ok(ids)
}
