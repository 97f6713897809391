//! The reconciliation benchmark. In a fresh database it bulk-loads `--payments` succeeded local
//! payments (COPY), writes a bill of the same day to a file with `--planted` discrepancies of six
//! kinds (amount, fee, status, missing at the provider, missing locally, duplicate payment),
//! reconciles it with the engine (`paygate::recon`) through mockpay's streaming parser — the
//! adapter's own code path, fed from the file instead of HTTP — and checks that every planted
//! discrepancy and nothing else was found. Only the reconciliation is timed. The last line is
//! `recon: <n> lines in <s> s, peak <MB> MB, found <k>/<planted>` (peak = VmHWM of this process).
//!
//! ```sh
//! cargo build --release -p paygate-e2e --bin recon-bench
//! target/release/recon-bench        # DATABASE_URL's server; --help for the sizes
//! ```
//!
//! It exits non-zero if a planted discrepancy was missed or another was found. Results:
//! docs/benchmarks.md.

use chrono::{NaiveDate, Utc};
use clap::Parser;
use futures_util::future::BoxFuture;
use paygate::broker::topology::Topology;
use paygate::providers::Exchange;
use paygate::providers::adapter::trade_no;
use paygate::providers::bill::BillError;
use paygate::recon::engine::{self, BillSource, OpenedBill, Resume};
use paygate::recon::{Kind, Quiet, ReconConfig, Run};
use paygate::runtime::config::CommonConfig;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

/// The bench's command line: the database server as for every paygate process
/// (`DATABASE_URL`, …), and the sizes.
#[derive(Debug, Parser)]
#[command(
    name = "recon-bench",
    about = "The reconciliation benchmark: 1,000,000 local payments and a 1,000,000-line bill with \
             1,000 planted discrepancies, reconciled in a fresh database"
)]
struct Cli {
    #[command(flatten)]
    common: CommonConfig,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Local payments (and bill lines).
    #[arg(long, default_value_t = 1_000_000)]
    pub payments: u64,
    /// Planted discrepancies, of mixed kinds.
    #[arg(long, default_value_t = 1_000)]
    pub planted: u64,
    /// The database to (re)create for the run, on DATABASE_URL's server.
    #[arg(long, default_value = "paygate_recon_bench")]
    pub database: String,
    /// Where to write the bill.
    #[arg(long, default_value = "/tmp/paygate-recon-bench.csv")]
    pub bill: PathBuf,
}

const FEE_PPM: u64 = 6_000;
const KINDS: [&str; 6] = [
    "amount_mismatch",
    "fee_mismatch",
    "status_mismatch",
    "missing_at_provider",
    "missing_locally",
    "duplicate_payment",
];

fn id(i: u64) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(i))
}

fn amount(i: u64) -> i64 {
    i64::try_from(100 + (i * 37) % 100_000).unwrap_or(100)
}

fn fee(amount: i64) -> i64 {
    let ppm = i64::try_from(FEE_PPM).unwrap_or(0);
    (amount * ppm + 500_000).div_euclid(1_000_000)
}

fn with_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, rest)) => {
            let query = rest.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
            format!("{base}/{database}{query}")
        }
        None => url.to_owned(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(&cli.common, &cli.bench))
}

async fn run(common: &CommonConfig, args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.planted > 0 && args.planted * 10 <= args.payments,
        "planted: must be 1 to a tenth of payments"
    );
    let mut admin = PgConnection::connect(&with_database(&common.database_url, "postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", args.database)))
        .execute(&mut admin)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{}\"", args.database)))
        .execute(&mut admin)
        .await?;
    let mut config = common.clone();
    config.database_url = with_database(&common.database_url, &args.database);
    let pool = paygate::runtime::database::connect_and_migrate(&config).await?;
    let day = Utc::now().date_naive();
    let started = Instant::now();
    load_payments(&pool, args.payments, day).await?;
    eprintln!("bench: {} local payments loaded in {:.1} s", args.payments, started.elapsed().as_secs_f64());
    let started = Instant::now();
    let (lines, planted) = write_bill(args, day)?;
    eprintln!(
        "bench: {lines}-line bill written to {} in {:.1} s",
        args.bill.display(),
        started.elapsed().as_secs_f64()
    );
    sqlx::query("ANALYZE payments").execute(&pool).await?;

    let topology = Topology::new(config.topology_config())?;
    let run = Run {
        provider: "mockpay",
        day,
        kind: Kind::Trade,
        config: ReconConfig { window_days: 0, fee_ppm: 6_000, ..ReconConfig::default() },
    };
    let started = Instant::now();
    let batch = engine::run_from(&pool, &topology, &FileBill(args.bill.clone()), run, &Quiet).await?;
    let seconds = started.elapsed().as_secs_f64();

    let found: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, coalesce(trade_no, '') FROM recon_discrepancies WHERE batch_id = $1")
            .bind(batch.id)
            .fetch_all(&pool)
            .await?;
    let found: BTreeSet<(String, String)> = found.into_iter().collect();
    let hits = planted.intersection(&found).count();
    let extra = found.difference(&planted).count();
    if extra > 0 {
        eprintln!(
            "bench: {extra} discrepancies found that were not planted, e.g. {:?}",
            found.difference(&planted).next()
        );
    }
    eprintln!("bench: batch {} counts {}", batch.id, batch.counts);
    let peak_mb = peak_rss_kb()? / 1024;
    println!("recon: {lines} lines in {seconds:.1} s, peak {peak_mb} MB, found {hits}/{}", args.planted);
    anyhow::ensure!(
        extra == 0 && hits == planted.len(),
        "found {hits} of {} planted and {extra} others",
        planted.len()
    );
    Ok(())
}

fn peak_rss_kb() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or_else(|| anyhow::anyhow!("no VmHWM"))?;
    Ok(line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// The planted discrepancy of payment `i`, if any: every `step`-th payment, kinds in turn.
fn planted_kind(i: u64, payments: u64, planted: u64) -> Option<usize> {
    let step = payments / planted;
    (i % step == step / 2 && i / step < planted).then(|| usize::try_from((i / step) % 6).unwrap_or(0))
}

async fn load_payments(pool: &sqlx::PgPool, n: u64, day: NaiveDate) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let at = day.and_hms_opt(12, 0, 0).map(|t| t.and_utc()).unwrap_or_else(Utc::now).to_rfc3339();
    let mut i = 0;
    while i < n {
        let end = (i + 50_000).min(n);
        let mut rows = String::with_capacity(50_000 * 200);
        for k in i..end {
            let _ = writeln!(
                rows,
                "{}\tm-bench\tb-{k}\tmockpay\tdirect\tretail\t{}\tCNY\tsucceeded\tbench\tfp\t2{k:018}\t{at}",
                id(k),
                amount(k)
            );
        }
        let mut conn = pool.acquire().await?;
        let mut copy = conn
            .copy_in_raw(
                "COPY payments (id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor, \
                 currency, state, subject, request_fingerprint, provider_txn_id, succeeded_at) FROM STDIN",
            )
            .await?;
        copy.send(rows.as_bytes()).await?;
        copy.finish().await?;
        i = end;
    }
    Ok(())
}

/// Writes the bill; returns its line count and the planted (kind, trade number) pairs.
fn write_bill(args: &BenchArgs, day: NaiveDate) -> anyhow::Result<(u64, BTreeSet<(String, String)>)> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args.bill)?);
    writeln!(out, "{}", paygate::providers::mockpay::bill::HEADER)?;
    let at = day.and_hms_opt(12, 0, 0).map(|t| t.and_utc()).unwrap_or_else(Utc::now);
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut planted = BTreeSet::new();
    let mut lines = 0u64;
    let mut line = |out: &mut std::io::BufWriter<std::fs::File>,
                    trade: &str,
                    txn: &str,
                    amount: i64,
                    fee: i64,
                    status: &str| {
        lines += 1;
        writeln!(out, "PAYMENT,{trade},,{txn},,{amount},{fee},CNY,{status},{at}")
    };
    for i in 0..args.payments {
        let trade = trade_no(id(i));
        let txn = format!("2{i:018}");
        let a = amount(i);
        let kind = planted_kind(i, args.payments, args.planted);
        if let Some(k) = kind {
            planted.insert((KINDS[k].to_owned(), trade.clone()));
        }
        match kind {
            Some(0) => line(&mut out, &trade, &txn, a + 1, fee(a + 1), "SUCCEEDED")?,
            Some(1) => line(&mut out, &trade, &txn, a, fee(a) + 1, "SUCCEEDED")?,
            Some(2) => line(&mut out, &trade, &txn, a, fee(a), "REVERSED")?,
            Some(3) => {}
            Some(4) => {
                line(&mut out, &trade, &txn, a, fee(a), "SUCCEEDED")?;
                planted.remove(&(KINDS[4].to_owned(), trade.clone()));
                let stranger =
                    trade_no(Uuid::from_u128(0x0290_0000_0000_7000_8000_0000_0000_0000 | u128::from(i)));
                planted.insert((KINDS[4].to_owned(), stranger.clone()));
                line(&mut out, &stranger, &format!("4{i:018}"), a, fee(a), "SUCCEEDED")?;
            }
            Some(_) => {
                line(&mut out, &trade, &txn, a, fee(a), "SUCCEEDED")?;
                line(&mut out, &trade, &format!("5{i:018}"), a, fee(a), "SUCCEEDED")?;
            }
            None => line(&mut out, &trade, &txn, a, fee(a), "SUCCEEDED")?,
        }
    }
    out.flush()?;
    Ok((lines, planted))
}

/// A bill file read in 64 KiB chunks through mockpay's streaming parser.
struct FileBill(PathBuf);

impl BillSource for FileBill {
    // mockpay's days are UTC days.
    fn day_offset(&self) -> chrono::FixedOffset {
        paygate::providers::provider_day::utc()
    }

    fn open(
        &self,
        _: Kind,
        _: NaiveDate,
        _: Resume,
    ) -> BoxFuture<'_, Result<OpenedBill<'_>, (BillError, Option<Exchange>)>> {
        Box::pin(async move {
            let file = tokio::fs::File::open(&self.0).await.map_err(|e| {
                (
                    BillError::Download { operation: "bill", reason: format!("{}: {e}", self.0.display()) },
                    None,
                )
            })?;
            let chunks = futures_util::stream::unfold(Some(file), |file| async move {
                let mut file = file?;
                let mut buf = vec![0u8; 64 * 1024];
                match file.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(buf), Some(file)))
                    }
                    Err(e) => Some((Err(e.to_string()), None)),
                }
            });
            Ok(OpenedBill::file(paygate::providers::mockpay::bill::items("bill", chunks), None, Vec::new()))
        })
    }
}
