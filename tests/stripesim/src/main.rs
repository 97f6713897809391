//! The stripesim binary: Stripe's PaymentIntents and Refunds API on a TCP port, with the given
//! (or test-only) keys.

use clap::Parser;
use std::net::SocketAddr;
use std::process::ExitCode;
use stripesim::{Config, Latency, StripeSim, testkit};

/// A Stripe simulator with fault injection (see tests/stripesim/src/lib.rs).
#[derive(Debug, Parser)]
#[command(name = "stripesim", version, about, long_about = None, after_help = AFTER_HELP)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "STRIPESIM_ADDR", default_value = "127.0.0.1:7073")]
    addr: SocketAddr,
    /// Base URL written into 3-D Secure redirect URLs [default: http://<addr>].
    #[arg(long, env = "STRIPESIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// The secret key requests must carry [default: a test-only key].
    #[arg(long, env = "STRIPESIM_SECRET_KEY", default_value = testkit::SECRET_KEY)]
    secret_key: String,
    /// The webhook endpoint's signing secret [default: a test-only secret].
    #[arg(long, env = "STRIPESIM_WEBHOOK_SECRET", default_value = testkit::WEBHOOK_SECRET)]
    webhook_secret: String,
    /// Where events are POSTed (paygate's notify-handler `/notify/stripe`).
    #[arg(long, env = "STRIPESIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Seed of the fault decisions.
    #[arg(long, env = "STRIPESIM_SEED")]
    seed: Option<u64>,
    /// A fault rate as NAME=PPM (repeatable; simkit's names).
    #[arg(long = "fault", env = "STRIPESIM_FAULTS", value_delimiter = ',', value_parser = parse_rate)]
    faults: Vec<(String, u32)>,
    /// Added latency, FIXED or FIXED+JITTER in ms.
    #[arg(long, env = "STRIPESIM_LATENCY_MS", value_parser = parse_latency)]
    latency_ms: Option<Latency>,
    /// How long refunds stay pending, in ms [default: 200].
    #[arg(long, env = "STRIPESIM_REFUND_DELAY_MS")]
    refund_delay_ms: Option<u64>,
    /// The webhook retry schedule at this many ppm of real time [default: 1000000].
    #[arg(long, env = "STRIPESIM_NOTIFY_SCALE_PPM")]
    notify_scale_ppm: Option<u64>,
    /// Log filter.
    #[arg(long, env = "STRIPESIM_LOG", default_value = "info")]
    log: String,
}

const AFTER_HELP: &str = "\
Admin API (unauthenticated; keep the simulator on a private address):
  PUT /admin/faults   POST /admin/script   PUT /admin/settings
  POST /admin/orders/{trade_no}/pay {paymentMethod}   POST /admin/orders/{trade_no}/authenticate {result}
  GET /admin/orders/{trade_no}   POST /admin/refunds/{refund_no}/complete {status}
  GET /admin/stats   POST /admin/reset";

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

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::new(&cli.secret_key, &cli.webhook_secret);
    config.addr = cli.addr;
    config.public_url = cli.public_url.clone();
    if let Some(seed) = cli.seed {
        config.faults.seed = seed;
    }
    for (name, ppm) in &cli.faults {
        config.faults.set_rate(name, *ppm).map_err(anyhow::Error::msg)?;
    }
    if let Some(l) = cli.latency_ms.clone() {
        config.faults.latency = l;
    }
    let s = &mut config.settings;
    s.webhook_url = cli.webhook_url.clone();
    if let Some(v) = cli.refund_delay_ms {
        s.refund_delay_ms = v;
    }
    if let Some(v) = cli.notify_scale_ppm {
        s.notify_scale_ppm = v;
    }
    let handle = StripeSim::start(config).await?;
    println!(
        "stripesim listening on {} (account {}); paygate: PAYGATE_PROVIDER_STRIPE_URL={} with the same SECRET_KEY and WEBHOOK_SECRET",
        handle.base_url(),
        handle.account(),
        handle.base_url()
    );
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await
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
            eprintln!("stripesim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
