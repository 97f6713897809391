//! The mockpay binary: a sandbox payment provider on a TCP port, configured from a JSON file,
//! flags and environment variables (flags and variables win over the file).

use clap::Parser;
use mockpay::{Config, Latency, MockPay, parse_merchant};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// A sandbox payment provider simulator with fault injection. Its wire protocol and admin API
/// are documented in tests/mockpay/README.md.
#[derive(Debug, Parser)]
#[command(name = "mockpay", version, about, long_about = None, after_help = AFTER_HELP)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "MOCKPAY_ADDR", default_value = "127.0.0.1:7070")]
    addr: SocketAddr,

    /// Base URL put in redirect/form pay actions [default: http://<addr>].
    #[arg(long, env = "MOCKPAY_PUBLIC_URL")]
    public_url: Option<String>,

    /// A merchant and its HMAC secret, as ID=SECRET. Repeatable; the variable takes a
    /// comma-separated list. Added to the config file's merchants.
    #[arg(long = "merchant", env = "MOCKPAY_SECRETS", hide_env_values = true, value_delimiter = ',', value_parser = parse_merchant)]
    merchants: Vec<(String, String)>,

    /// A JSON config file: {addr, publicUrl, merchants: {id: secret}, timestampToleranceSecs,
    /// nonceCapacity, settings: {...}, faults: {...}} (see the README).
    #[arg(long, env = "MOCKPAY_CONFIG")]
    config: Option<PathBuf>,

    /// How long refunds stay PROCESSING, in ms (0: refunds succeed at once) [default: 200].
    #[arg(long, env = "MOCKPAY_REFUND_DELAY_MS")]
    refund_delay_ms: Option<u64>,

    /// Waits between notification attempts, in ms, comma-separated [default: 100,500,2000,10000].
    #[arg(long, env = "MOCKPAY_NOTIFY_RETRY_MS", value_delimiter = ',')]
    notify_retry_ms: Option<Vec<u64>>,

    /// How long one notification attempt waits for the receiver, in ms [default: 5000].
    #[arg(long, env = "MOCKPAY_NOTIFY_TIMEOUT_MS")]
    notify_timeout_ms: Option<u64>,

    /// Pay every WAITING payment this many ms after its creation (demo, benchmark) [default: off].
    #[arg(long, env = "MOCKPAY_AUTO_PAY_AFTER_MS")]
    auto_pay_after_ms: Option<u64>,

    /// How long a timed-out or lost response is held before the connection is dropped, in ms
    /// [default: 60000].
    #[arg(long, env = "MOCKPAY_TIMEOUT_HOLD_MS")]
    timeout_hold_ms: Option<u64>,

    /// Expiry of WAITING payments created without expiresAt, in seconds; 0: never [default: 1800].
    #[arg(long, env = "MOCKPAY_DEFAULT_EXPIRY_SECS")]
    default_expiry_secs: Option<u64>,

    /// Accepted clock skew of X-Mockpay-Timestamp, in seconds [default: 300].
    #[arg(long, env = "MOCKPAY_TIMESTAMP_TOLERANCE_SECS")]
    timestamp_tolerance_secs: Option<u64>,

    /// Seed of the fault decisions [default: 0].
    #[arg(long, env = "MOCKPAY_SEED")]
    seed: Option<u64>,

    /// A fault rate as NAME=PPM (parts per million). Repeatable; the variable takes a
    /// comma-separated list. Names: timeout, http500, lost_response, decline,
    /// refund_processing_forever, refund_fail, notification_lost, notification_duplicate,
    /// notification_late, notification_reorder.
    #[arg(long = "fault", env = "MOCKPAY_FAULTS", value_delimiter = ',', value_parser = parse_rate)]
    faults: Vec<(String, u32)>,

    /// Added latency of API requests, as FIXED or FIXED+JITTER in ms (uniform jitter).
    #[arg(long, env = "MOCKPAY_LATENCY_MS", value_parser = parse_latency)]
    latency_ms: Option<Latency>,

    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "MOCKPAY_LOG", default_value = "info")]
    log: String,
}

const AFTER_HELP: &str = "\
Admin API (unsigned; keep mockpay on a private address):
  PUT  /admin/faults                      rates in ppm, seed, latency
  POST /admin/script                      {orderId, operation, fault, times}
  PUT  /admin/settings                    refundDelayMs, notifyRetryMs, autoPayAfterMs, ...
  POST /admin/merchants                   {merchantId, secret}
  GET  /admin/payments/{orderId}          internal truth: charges, refunds, notifications
  POST /admin/payments/{orderId}/pay      the customer pays (also /decline, /expire)
  POST /admin/refunds/{refundId}/complete {status: SUCCEEDED|FAILED}
  GET  /admin/stats    POST /admin/reset

Example:
  mockpay --addr 127.0.0.1:7070 --merchant m1=secret1 --fault timeout=10000 --seed 42";

fn parse_rate(s: &str) -> Result<(String, u32), String> {
    let (name, ppm) = s.split_once('=').ok_or_else(|| format!("expected NAME=PPM, got {s:?}"))?;
    let ppm: u32 = ppm.trim().parse().map_err(|_| format!("{name}: {ppm:?} is not a whole number of ppm"))?;
    Ok((name.trim().to_owned(), ppm))
}

fn parse_latency(s: &str) -> Result<Latency, String> {
    let bad = || format!("expected FIXED or FIXED+JITTER in ms, got {s:?}");
    let (fixed, jitter) = s.split_once('+').unwrap_or((s, "0"));
    Ok(Latency {
        fixed_ms: fixed.trim().parse().map_err(|_| bad())?,
        jitter_ms: jitter.trim().parse().map_err(|_| bad())?,
        percentiles: Vec::new(),
    })
}

fn build_config(cli: Cli) -> anyhow::Result<Config> {
    let mut config = match &cli.config {
        Some(path) => Config::from_json_file(path)?,
        None => Config::default(),
    };
    config.addr = cli.addr;
    if cli.public_url.is_some() {
        config.public_url = cli.public_url;
    }
    config.merchants.extend(cli.merchants);
    let s = &mut config.settings;
    if let Some(v) = cli.refund_delay_ms {
        s.refund_delay_ms = v;
    }
    if let Some(v) = cli.notify_retry_ms {
        s.notify_retry_ms = v;
    }
    if let Some(v) = cli.notify_timeout_ms {
        s.notify_timeout_ms = v;
    }
    if cli.auto_pay_after_ms.is_some() {
        s.auto_pay_after_ms = cli.auto_pay_after_ms;
    }
    if let Some(v) = cli.timeout_hold_ms {
        s.timeout_hold_ms = v;
    }
    if let Some(v) = cli.default_expiry_secs {
        s.default_expiry_secs = (v > 0).then_some(v);
    }
    if let Some(v) = cli.timestamp_tolerance_secs {
        config.timestamp_tolerance_secs = v;
    }
    let f = &mut config.faults;
    if let Some(seed) = cli.seed {
        f.seed = seed;
    }
    for (name, ppm) in cli.faults {
        f.set_rate(&name, ppm).map_err(anyhow::Error::msg)?;
    }
    if let Some(l) = cli.latency_ms {
        f.latency = l;
    }
    f.validate().map_err(anyhow::Error::msg)?;
    Ok(config)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = build_config(cli)?;
    if config.merchants.is_empty() {
        tracing::warn!(
            "no merchants configured: every signed request will fail with 1106 (use --merchant ID=SECRET)"
        );
    }
    let merchants: Vec<&String> = config.merchants.keys().collect();
    tracing::info!(?merchants, faults = ?config.faults, settings = ?config.settings, "starting mockpay");
    let handle = MockPay::start(config).await?;
    println!("mockpay listening on {}", handle.base_url());
    shutdown_signal().await;
    tracing::info!("shutting down");
    handle.shutdown().await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mockpay: {e:#}");
            ExitCode::FAILURE
        }
    }
}
