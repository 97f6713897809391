//! The wechatpaysim binary: WeChat Pay API v3 on a TCP port. Keys come from PEM files, or are
//! generated at start (throwaway) and written to `--write-keys DIR` with the paygate settings
//! that use them.

use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use wechatpaysim::{Config, Latency, MerchantConfig, WechatPaySim, keys};

/// A WeChat Pay API v3 simulator with fault injection (see tests/wechatpaysim/src/lib.rs).
#[derive(Debug, Parser)]
#[command(name = "wechatpaysim", version, about, long_about = None, after_help = AFTER_HELP)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "WECHATPAYSIM_ADDR", default_value = "127.0.0.1:7071")]
    addr: SocketAddr,
    /// Base URL written into bill download URLs [default: http://<addr>].
    #[arg(long, env = "WECHATPAYSIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// The merchant id (商户号).
    #[arg(long, env = "WECHATPAYSIM_MCHID", default_value = "1900000109")]
    mchid: String,
    /// App ids bound to the merchant (comma-separated).
    #[arg(long, env = "WECHATPAYSIM_APPIDS", value_delimiter = ',', default_value = "wxd678efh567hg6787")]
    appid: Vec<String>,
    /// The merchant certificate's serial number.
    #[arg(long, env = "WECHATPAYSIM_MERCHANT_SERIAL", default_value = "SIMMERCHANTSERIAL0001")]
    merchant_serial: String,
    /// The merchant's public key, PEM [default: a key pair is generated and its private key written
    /// to --write-keys].
    #[arg(long, env = "WECHATPAYSIM_MERCHANT_PUBLIC_KEY_FILE")]
    merchant_public_key_file: Option<PathBuf>,
    /// The platform key's serial (Wechatpay-Serial).
    #[arg(long, env = "WECHATPAYSIM_PLATFORM_SERIAL", default_value = "PUB_KEY_ID_SIM0000000000000001")]
    platform_serial: String,
    /// The platform private key, PEM [default: generated].
    #[arg(long, env = "WECHATPAYSIM_PLATFORM_KEY_FILE")]
    platform_key_file: Option<PathBuf>,
    /// A file holding the 32-byte APIv3 key [default: generated].
    #[arg(long, env = "WECHATPAYSIM_APIV3_KEY_FILE")]
    apiv3_key_file: Option<PathBuf>,
    /// Where to write the keys in use and paygate's settings for them (wechatpay.env).
    #[arg(long, env = "WECHATPAYSIM_WRITE_KEYS")]
    write_keys: Option<PathBuf>,
    /// Seed of the fault decisions.
    #[arg(long, env = "WECHATPAYSIM_SEED")]
    seed: Option<u64>,
    /// A fault rate as NAME=PPM (repeatable; simkit's names: timeout, http500, lost_response,
    /// decline, refund_processing_forever, refund_fail, notification_lost, notification_duplicate,
    /// notification_late, notification_reorder).
    #[arg(long = "fault", env = "WECHATPAYSIM_FAULTS", value_delimiter = ',', value_parser = parse_rate)]
    faults: Vec<(String, u32)>,
    /// Added latency, FIXED or FIXED+JITTER in ms.
    #[arg(long, env = "WECHATPAYSIM_LATENCY_MS", value_parser = parse_latency)]
    latency_ms: Option<Latency>,
    /// How long refunds stay PROCESSING, in ms [default: 200].
    #[arg(long, env = "WECHATPAYSIM_REFUND_DELAY_MS")]
    refund_delay_ms: Option<u64>,
    /// WeChat's notification retry schedule at this many ppm of real time [default: 1000000].
    #[arg(long, env = "WECHATPAYSIM_NOTIFY_SCALE_PPM")]
    notify_scale_ppm: Option<u64>,
    /// How long a timed-out or lost response is held, in ms [default: 60000].
    #[arg(long, env = "WECHATPAYSIM_TIMEOUT_HOLD_MS")]
    timeout_hold_ms: Option<u64>,
    /// Log filter.
    #[arg(long, env = "WECHATPAYSIM_LOG", default_value = "info")]
    log: String,
}

const AFTER_HELP: &str = "\
Admin API (unsigned; keep the simulator on a private address):
  PUT /admin/faults   POST /admin/script   PUT /admin/settings   POST /admin/bill-faults
  POST /admin/orders/{out_trade_no}/pay    GET /admin/orders/{out_trade_no}
  POST /admin/refunds/{out_refund_no}/complete {status}   GET /admin/stats   POST /admin/reset";

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

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut merchant_private = None;
    let merchant_public = match &cli.merchant_public_key_file {
        Some(p) => read(p)?,
        None => {
            eprintln!("wechatpaysim: generating a throwaway merchant key pair");
            let (private, public) = keys::generate_pem_pair()?;
            merchant_private = Some(private);
            public
        }
    };
    let platform_private = match &cli.platform_key_file {
        Some(p) => read(p)?,
        None => {
            eprintln!("wechatpaysim: generating a throwaway platform key pair");
            keys::generate_pem_pair()?.0
        }
    };
    let platform_public = keys::public_pem_of(&platform_private)?;
    let apiv3 = match &cli.apiv3_key_file {
        Some(p) => read(p)?.trim().to_owned(),
        None => keys::generate_apiv3_key(),
    };
    let mut config =
        Config::new(&cli.platform_serial, &platform_private, &apiv3).with_merchant(MerchantConfig {
            mchid: cli.mchid.clone(),
            appids: cli.appid.clone(),
            serial_no: cli.merchant_serial.clone(),
            public_key_pem: merchant_public,
        });
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
    if let Some(v) = cli.refund_delay_ms {
        s.refund_delay_ms = v;
    }
    if let Some(v) = cli.notify_scale_ppm {
        s.notify_scale_ppm = v;
    }
    if let Some(v) = cli.timeout_hold_ms {
        s.timeout_hold_ms = v;
    }
    let handle = WechatPaySim::start(config).await?;
    if let Some(dir) = &cli.write_keys {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let write = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))
        };
        if let Some(private) = &merchant_private {
            write("apiclient_key.pem", private)?;
        }
        write("platform_public_key.pem", &platform_public)?;
        write("apiv3_key", &apiv3)?;
        let d = dir.display();
        let mut env = format!(
            "PAYGATE_PROVIDER_WECHATPAY_URL={}\nPAYGATE_PROVIDER_WECHATPAY_MCHID={}\nPAYGATE_PROVIDER_WECHATPAY_APPID={}\n\
             PAYGATE_PROVIDER_WECHATPAY_MERCHANT_SERIAL={}\nPAYGATE_PROVIDER_WECHATPAY_PLATFORM_SERIAL={}\n\
             PAYGATE_PROVIDER_WECHATPAY_PLATFORM_KEY_FILE={d}/platform_public_key.pem\n\
             PAYGATE_PROVIDER_WECHATPAY_APIV3_KEY_FILE={d}/apiv3_key\n",
            handle.base_url(),
            cli.mchid,
            cli.appid.first().cloned().unwrap_or_default(),
            cli.merchant_serial,
            cli.platform_serial,
        );
        if merchant_private.is_some() {
            env.push_str(&format!("PAYGATE_PROVIDER_WECHATPAY_MERCHANT_KEY_FILE={d}/apiclient_key.pem\n"));
        }
        write("wechatpay.env", &env)?;
        println!("wechatpaysim: keys and paygate settings written to {d} (wechatpay.env)");
    } else {
        println!("wechatpaysim: platform public key ({}):\n{platform_public}", cli.platform_serial);
        if merchant_private.is_some() {
            println!(
                "wechatpaysim: a merchant key was generated; pass --write-keys DIR to get its private half"
            );
        }
    }
    println!("wechatpaysim listening on {}", handle.base_url());
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
            eprintln!("wechatpaysim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
