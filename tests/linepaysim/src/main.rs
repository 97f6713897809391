//! The linepaysim binary: LINE Pay's Online API v3 on a TCP port, with the given (or test-only)
//! channel.

use clap::Parser;
use linepaysim::{Config, LinePaySim, testkit};
use std::net::SocketAddr;
use std::process::ExitCode;

/// A LINE Pay simulator with fault injection (see tests/linepaysim/src/lib.rs).
#[derive(Debug, Parser)]
#[command(name = "linepaysim", version, about, long_about = None, after_help = AFTER_HELP)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "LINEPAYSIM_ADDR", default_value = "127.0.0.1:7074")]
    addr: SocketAddr,
    /// Base URL written into payment URLs [default: http://<addr>].
    #[arg(long, env = "LINEPAYSIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// The channel id requests must carry [default: a test-only id].
    #[arg(long, env = "LINEPAYSIM_CHANNEL_ID", default_value = testkit::CHANNEL_ID)]
    channel_id: String,
    /// The channel secret requests are signed with [default: a test-only secret].
    #[arg(long, env = "LINEPAYSIM_CHANNEL_SECRET", default_value = testkit::CHANNEL_SECRET)]
    channel_secret: String,
    /// The channel's currency.
    #[arg(long, env = "LINEPAYSIM_CURRENCY", default_value = "TWD")]
    currency: String,
    /// Seed of the fault decisions.
    #[arg(long, env = "LINEPAYSIM_SEED")]
    seed: Option<u64>,
    /// A fault rate as NAME=PPM (repeatable; simkit's names).
    #[arg(long = "fault", env = "LINEPAYSIM_FAULTS", value_delimiter = ',', value_parser = parse_rate)]
    faults: Vec<(String, u32)>,
    /// Log filter.
    #[arg(long, env = "LINEPAYSIM_LOG", default_value = "info")]
    log: String,
}

const AFTER_HELP: &str = "\
Admin API (unauthenticated; keep the simulator on a private address):
  PUT /admin/faults   POST /admin/script   PUT /admin/settings
  POST /admin/orders/{order_id}/approve {redirect}   POST /admin/orders/{order_id}/cancel
  POST /admin/orders/{order_id}/expire   GET /admin/orders/{order_id}
  GET /admin/stats   POST /admin/reset";

fn parse_rate(s: &str) -> Result<(String, u32), String> {
    let (name, ppm) = s.split_once('=').ok_or_else(|| format!("expected NAME=PPM, got {s:?}"))?;
    let ppm: u32 = ppm.trim().parse().map_err(|_| format!("{name}: {ppm:?} is not a whole number of ppm"))?;
    Ok((name.trim().to_owned(), ppm))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::new(&cli.channel_id, &cli.channel_secret, &cli.currency);
    config.addr = cli.addr;
    config.public_url = cli.public_url.clone();
    if let Some(seed) = cli.seed {
        config.faults.seed = seed;
    }
    for (name, ppm) in &cli.faults {
        config.faults.set_rate(name, *ppm).map_err(anyhow::Error::msg)?;
    }
    let handle = LinePaySim::start(config).await?;
    println!(
        "linepaysim listening on {} (channel {}); paygate: PAYGATE_PROVIDER_LINEPAY_URL={} with the same CHANNEL_ID and CHANNEL_SECRET",
        handle.base_url(),
        handle.channel_id(),
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
            eprintln!("linepaysim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
