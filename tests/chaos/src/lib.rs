//! The chaos run (issue 17, docs/reliability.md): paygate on private PostgreSQL and RabbitMQ,
//! mockpay with every fault on, a service SIGKILLed every few seconds, each server restarted
//! once, under a load of payments and refunds; then the faults stop, the run waits (bounded) for
//! everything to settle, and the books are checked against mockpay's.
//!
//! - [`options`]: the run's size, pace and bounds;
//! - [`plan`]: what is sent, decided from the seed;
//! - [`servers`]: the private PostgreSQL and RabbitMQ;
//! - [`fleet`]: the services as processes, killed and restarted;
//! - [`upstream`]: publishing commands and receiving events across broker restarts;
//! - [`load`]: sending the plan and following each payment;
//! - [`havoc`]: the kills and restarts;
//! - [`verdict`]: the checks;
//! - [`report`]: the figures printed.

pub mod fleet;
pub mod havoc;
pub mod load;
pub mod options;
pub mod plan;
pub mod report;
pub mod servers;
pub mod upstream;
pub mod verdict;

pub use options::Options;
pub use report::Report;

use fleet::{Fleet, Spec};
use mockpay::{Config as MockpayConfig, FaultSettings, MockPay, Settings};
use paygate_test_support::free_port;
use std::sync::Arc;
use std::time::{Duration, Instant};
use upstream::progress;

const ORDER_SHARDS: u16 = 4;
const RETRY_TIERS: &str = "1s,2s,4s,8s,15s";
const MOCKPAY_MERCHANT: &str = "paygate";
const MOCKPAY_SECRET: &str = "chaos-signing-secret";

/// The provider faults of the run (issue 17): about 10% timeouts, 5% 5xx, 2% "charged but the
/// response was lost", 20% lost, 10% duplicate and 10% late or reordered notifications; and
/// some declines and failed refunds, so that those roads are taken too.
pub fn provider_faults(seed: u64) -> FaultSettings {
    FaultSettings {
        seed,
        timeout_ppm: 100_000,
        http500_ppm: 50_000,
        lost_response_ppm: 20_000,
        decline_ppm: 30_000,
        refund_fail_ppm: 20_000,
        notification_lost_ppm: 200_000,
        notification_duplicate_ppm: 100_000,
        notification_late_ppm: 50_000,
        notification_late_ms: 3_000,
        notification_reorder_ppm: 50_000,
        ..FaultSettings::default()
    }
}

pub async fn run(options: Options) -> anyhow::Result<Report> {
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let plan = plan::plan(&run_id, options.payments, options.refunds, options.seed);
    let bin_dir = fleet::bin_dir(options.bin_dir.as_deref())?;

    progress("starting private PostgreSQL and RabbitMQ");
    let mut servers = servers::Servers::start(ORDER_SHARDS, RETRY_TIERS).await?;
    let mockpay = MockPay::start(
        MockpayConfig::default().with_merchant(MOCKPAY_MERCHANT, MOCKPAY_SECRET).with_settings(Settings {
            refund_delay_ms: 100,
            timeout_hold_ms: 2_500,
            notify_retry_ms: vec![200, 500, 1_000, 2_000, 4_000, 8_000, 15_000, 30_000],
            notify_timeout_ms: 2_000,
            ..Settings::default()
        }),
    )
    .await?;
    let admin = mockpay.admin();
    admin
        .set_faults(&provider_faults(options.seed))
        .await
        .map_err(|e| anyhow::anyhow!("mockpay faults: {e}"))?;

    progress("starting the services");
    let specs = service_specs(&servers, mockpay.base_url(), &options.service_log);
    let mut fleet = Fleet::start(&bin_dir, specs).await?;
    let upstream = upstream::Upstream::connect(&servers.amqp_url(), servers::PREFIX).await?;

    progress(&format!("sending {} payments at {}/s", plan.len(), options.rate));
    let started = Instant::now();
    let sent = Arc::new(load::Sent::new(options.refunds));
    let load =
        tokio::spawn(load::drive(upstream.clone(), admin.clone(), plan.clone(), options.rate, sent.clone()));
    let expected = Duration::from_secs(options.payments / options.rate).max(options.min_havoc);
    let havoc = havoc::Havoc {
        kill_every: options.kill_every,
        min_duration: options.min_havoc,
        rabbit_at: expected / 3,
        postgres_at: expected * 2 / 3,
        seed: options.seed,
    };
    let done = havoc.run(&mut fleet, &mut servers, &load).await?;
    load.await?;
    let loaded_in = started.elapsed();

    progress("faults off; waiting for everything to settle");
    admin.set_faults(&FaultSettings::default()).await.map_err(|e| anyhow::anyhow!("mockpay faults: {e}"))?;
    let settle_started = Instant::now();
    let mut remaining = [0u64; 4];
    let converged = loop {
        let received = upstream.received.lock().unwrap().clone();
        let unconfirmed = sent.unconfirmed_pays.lock().unwrap().clone();
        match verdict::unsettled(&servers.db.pool, &plan, &received, &unconfirmed).await {
            Ok(r) if r == [0; 4] => break Some(settle_started.elapsed()),
            Ok(r) => remaining = r,
            Err(e) => progress(&format!("reading the books: {e}")),
        }
        if settle_started.elapsed() >= options.converge_within {
            break None;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    progress("checking the books");
    let received = upstream.received.lock().unwrap().clone();
    let refund_nos = sent.refund_nos.lock().unwrap().clone();
    let unconfirmed = sent.unconfirmed_pays.lock().unwrap().clone();
    let verdict = verdict::judge(
        &servers.db.pool,
        &admin,
        &servers.management_url(),
        &plan,
        &received,
        &refund_nos,
        &unconfirmed,
    )
    .await?;
    let stats = admin.stats().await.map_err(|e| anyhow::anyhow!("mockpay stats: {e}"))?;
    let mut died_alone = done.died_alone.clone();
    for i in fleet.exited() {
        died_alone.push(format!(
            "{} at the end: {}",
            fleet.label(i),
            fleet.tail(fleet.label(i), 5).join(" | ")
        ));
    }
    let unclean_stops = fleet.stop().await;
    Ok(Report {
        options,
        sent,
        havoc: done,
        loaded_in,
        converged,
        remaining,
        verdict,
        provider_stats: stats,
        republished: upstream.republished.load(std::sync::atomic::Ordering::Relaxed),
        died_alone,
        unclean_stops,
    })
}

/// Every service of the run: one ingest, two dispatchers, one notify-handler, two schedulers.
fn service_specs(servers: &servers::Servers, mockpay_url: &str, log: &str) -> Vec<Spec> {
    let common = [
        ("DATABASE_URL".to_owned(), servers.db.url.clone()),
        ("DATABASE_MAX_CONNECTIONS".into(), "8".into()),
        ("AMQP_URL".into(), servers.amqp_url()),
        ("AMQP_PREFIX".into(), servers::PREFIX.into()),
        ("ORDER_SHARDS".into(), ORDER_SHARDS.to_string()),
        ("SHUTDOWN_GRACE_SECS".into(), "5".into()),
        ("RETRY_TIERS".into(), RETRY_TIERS.into()),
        ("RUST_LOG".into(), log.to_owned()),
    ];
    let provider = vec![
        ("PROVIDERS".to_owned(), "mockpay".to_owned()),
        ("PAYGATE_PROVIDER_MOCKPAY_URL".into(), mockpay_url.to_owned()),
        ("PAYGATE_PROVIDER_MOCKPAY_MERCHANT".into(), MOCKPAY_MERCHANT.into()),
        ("PAYGATE_PROVIDER_MOCKPAY_SECRET".into(), MOCKPAY_SECRET.into()),
        ("PAYGATE_PROVIDER_MOCKPAY_TIMEOUT".into(), "1s".into()),
        ("PAYGATE_PROVIDER_MOCKPAY_NOT_FOUND_FINAL_AFTER".into(), "5s".into()),
    ];
    let with = |extra: &[(String, String)]| -> Vec<(String, String)> {
        common.iter().chain(extra).cloned().collect()
    };
    let notify_port = free_port();
    let notify_base = format!("http://127.0.0.1:{notify_port}");
    let mut dispatcher_env = provider.clone();
    dispatcher_env.push(("NOTIFY_BASE_URL".into(), notify_base));
    let mut scheduler_env = provider.clone();
    scheduler_env.extend([
        ("STUCK_SCHEDULE".to_owned(), "2s,5s".to_owned()),
        ("SCHEDULER_POLL_MS".into(), "200".into()),
        ("UNDECIDED_NOTIFICATION_AGE".into(), "10s".into()),
        ("STUCK_QUERY_RESEND_AFTER".into(), "60s".into()),
    ]);
    // ingest's upstream HTTP API on a free port, not its fixed default.
    let ingest_env = vec![
        ("PROVIDERS".to_owned(), "mockpay".to_owned()),
        ("API_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
    ];
    let spec = |bin: &'static str, label: &str, env: Vec<(String, String)>, port: u16| Spec {
        bin,
        label: label.to_owned(),
        env,
        port,
    };
    vec![
        spec("ingest", "ingest", with(&ingest_env), free_port()),
        spec("provider-dispatcher", "dispatcher-1", with(&dispatcher_env), free_port()),
        spec("provider-dispatcher", "dispatcher-2", with(&dispatcher_env), free_port()),
        spec("notify-handler", "notify-handler", with(&provider), notify_port),
        spec("compensation-scheduler", "scheduler-1", with(&scheduler_env), free_port()),
        spec("compensation-scheduler", "scheduler-2", with(&scheduler_env), free_port()),
    ]
}
