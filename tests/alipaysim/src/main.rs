//! The alipaysim binary: an Alipay open-platform gateway on a TCP port.

use alipaysim::{AlipaySim, Config};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// An Alipay open-platform simulator (gateway.do, RSA2, notifications, bills) with fault
/// injection, for paygate's tests and demo. Admin API under /admin (see src/admin.rs).
#[derive(Debug, Parser)]
#[command(name = "alipaysim", version, about, long_about = None)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "ALIPAYSIM_ADDR", default_value = "127.0.0.1:7071")]
    addr: SocketAddr,

    /// Base URL put in QR codes, cashier pages and bill URLs [default: http://<addr>].
    #[arg(long, env = "ALIPAYSIM_PUBLIC_URL")]
    public_url: Option<String>,

    /// The app id accepted.
    #[arg(long, env = "ALIPAYSIM_APP_ID", default_value = "2021000000000001")]
    app_id: String,

    /// The app's public key (PEM file) that its requests are checked with.
    #[arg(long, env = "ALIPAYSIM_APP_PUBLIC_KEY_FILE")]
    app_public_key_file: PathBuf,

    /// The seller id (PID) of the app's merchant.
    #[arg(long, env = "ALIPAYSIM_SELLER_ID", default_value = "2088000000000001")]
    seller_id: String,

    /// "Alipay's" private key (PEM file) signing answers and notifications; without it a key is
    /// generated and its public half written to --write-alipay-public-key.
    #[arg(long, env = "ALIPAYSIM_ALIPAY_PRIVATE_KEY_FILE")]
    alipay_private_key_file: Option<PathBuf>,

    /// Where to write Alipay's public key (SPKI PEM) for the merchant to verify with.
    #[arg(long, env = "ALIPAYSIM_WRITE_ALIPAY_PUBLIC_KEY")]
    write_alipay_public_key: Option<PathBuf>,

    /// Seed of the fault decisions.
    #[arg(long, env = "ALIPAYSIM_SEED", default_value_t = 0)]
    seed: u64,

    /// A fault rate as NAME=PPM (simkit's names: timeout, http500, lost_response, decline,
    /// refund_processing_forever, refund_fail, notification_lost, notification_duplicate,
    /// notification_late, notification_reorder). Repeatable; comma-separated in the variable.
    #[arg(long = "fault", env = "ALIPAYSIM_FAULTS", value_delimiter = ',')]
    faults: Vec<String>,

    /// Notification retry clock in ppm of real time (1000000: Alipay's 4m,10m,10m,1h,2h,6h,15h).
    #[arg(long, env = "ALIPAYSIM_NOTIFY_TIME_SCALE_PPM")]
    notify_time_scale_ppm: Option<u64>,

    /// Pay every unpaid QR / cashier trade this many ms after it is created (demo).
    #[arg(long, env = "ALIPAYSIM_AUTO_PAY_AFTER_MS")]
    auto_pay_after_ms: Option<u64>,

    /// Serve today's bill (Alipay's is ready the next day).
    #[arg(long, env = "ALIPAYSIM_BILL_TODAY")]
    bill_today: bool,

    /// Log filter.
    #[arg(long, env = "ALIPAYSIM_LOG", default_value = "info")]
    log: String,
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config { addr: cli.addr, public_url: cli.public_url.clone(), ..Config::default() };
    config = config.with_app(&cli.app_id, &read(&cli.app_public_key_file)?, &cli.seller_id);
    if let Some(p) = &cli.alipay_private_key_file {
        config = config.with_alipay_key(&read(p)?);
    }
    config.faults.seed = cli.seed;
    for f in &cli.faults {
        let (name, ppm) = f.split_once('=').ok_or_else(|| anyhow::anyhow!("expected NAME=PPM, got {f:?}"))?;
        let ppm: u32 = ppm.trim().parse().map_err(|_| anyhow::anyhow!("{name}: {ppm:?} is not ppm"))?;
        config.faults.set_rate(name.trim(), ppm).map_err(anyhow::Error::msg)?;
    }
    if let Some(s) = cli.notify_time_scale_ppm {
        config.settings.notify_time_scale_ppm = s;
    }
    config.settings.auto_pay_after_ms = cli.auto_pay_after_ms;
    config.settings.bill_today = cli.bill_today;
    let handle = AlipaySim::start(config).await?;
    if let Some(path) = &cli.write_alipay_public_key {
        std::fs::write(path, handle.alipay_public_key_pem())?;
    }
    println!("alipaysim listening on {} (gateway {})", handle.base_url(), handle.gateway_url());
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
            eprintln!("alipaysim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
