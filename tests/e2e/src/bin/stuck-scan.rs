//! The stuck-scan benchmark: bulk-loads payments into a fresh database with COPY (by default
//! 1,000,000, of which 10,000 are stuck: non-final with `next_check_at` in the past; the rest are
//! final, or non-final but not due), then runs the compensation scheduler's scans exactly as the
//! scheduler does (batches of `--batch-size`, one transaction each: claim with SKIP LOCKED, put
//! the work in the outbox, move `next_check_at`) until nothing is due, and times that.
//!
//! ```sh
//! cargo run --release -p paygate-e2e --bin stuck-scan            # DATABASE_URL or PAYGATE_TEST_DATABASE_URL
//! ```
//!
//! The last line is `stuck-scan: <k> of <n> in <ms> ms`: k orders found and enqueued out of n
//! payments. The target is under 1 s. It exits non-zero if k is not the number of stuck payments
//! loaded or the outbox does not hold exactly k messages. Results: docs/benchmarks.md.

use clap::Parser;
use compensation_scheduler::scan::Scanner;
use compensation_scheduler::schedule::StuckSchedule;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate_test_support::TestDb;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "stuck-scan",
    about = "Times the compensation scheduler's stuck scan over a large payments table"
)]
struct Args {
    /// Payments to load.
    #[arg(long, default_value_t = 1_000_000)]
    payments: u64,
    /// How many of them are stuck (non-final, next check due).
    #[arg(long, default_value_t = 10_000)]
    stuck: u64,
    /// How many more are non-final but not due yet (they must cost nothing).
    #[arg(long, default_value_t = 40_000)]
    not_due: u64,
    /// Orders claimed per transaction, as SCHEDULER_BATCH_SIZE.
    #[arg(long, default_value_t = 500)]
    batch_size: u32,
}

const COPY: &str = "COPY payments (id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor, \
                    currency, state, subject, request_fingerprint, next_check_at, created_at, expires_at) FROM STDIN";
const ROWS_PER_CHUNK: u64 = 20_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.stuck + args.not_due <= args.payments,
        "--stuck plus --not-due must not exceed --payments"
    );
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await?;
    let loaded = Instant::now();
    load(&db, &args).await?;
    sqlx::query("ANALYZE payments").execute(&db.pool).await?;
    eprintln!(
        "loaded {} payments ({} stuck, {} not due) in {} ms",
        args.payments,
        args.stuck,
        args.not_due,
        loaded.elapsed().as_millis()
    );

    let topology = Arc::new(Topology::new(TopologyConfig::default())?);
    let scanner =
        Scanner::new(db.pool.clone(), topology, Arc::new(StuckSchedule::default()), args.batch_size);
    let started = Instant::now();
    let counts = scanner.scan_all(&CancellationToken::new()).await?;
    let elapsed = started.elapsed();

    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&db.pool).await?;
    let k = counts.enqueued();
    anyhow::ensure!(k == args.stuck, "found {k} stuck payments, loaded {}", args.stuck);
    anyhow::ensure!(u64::try_from(outbox)? == k, "the outbox holds {outbox} messages, not {k}");
    println!("stuck-scan: {k} of {} in {} ms", args.payments, elapsed.as_millis());
    Ok(())
}

/// COPYs the payments in chunks: `stuck` due non-final ones first, then `not_due` non-final ones
/// checked in an hour, then final ones (a mix of states) with next_check_at in the past.
async fn load(db: &TestDb, args: &Args) -> anyhow::Result<()> {
    let mut conn = db.pool.acquire().await?;
    let now = chrono::Utc::now();
    let ts =
        |secs: i64| (now + chrono::Duration::seconds(secs)).format("%Y-%m-%d %H:%M:%S%.6f+00").to_string();
    let created = ts(-2 * 3600);
    let mut copy = conn.copy_in_raw(COPY).await?;
    let mut chunk = String::new();
    for i in 0..args.payments {
        let (state, next_check_at, expires_at) = if i < args.stuck {
            (
                ["pending", "action_required", "unknown"][(i % 3) as usize],
                ts(-1 - (i % 3600) as i64),
                "\\N".to_owned(),
            )
        } else if i < args.stuck + args.not_due {
            (["pending", "action_required"][(i % 2) as usize], ts(3600), ts(86_400))
        } else {
            (
                ["succeeded", "failed", "closed", "expired", "refunded"][(i % 5) as usize],
                created.clone(),
                "\\N".to_owned(),
            )
        };
        writeln!(
            chunk,
            "{}\tbench\to-{i}\tmockpay\tqr\tretail\t{}\tCNY\t{state}\tbench\tfp\t{next_check_at}\t{created}\t{expires_at}",
            Uuid::now_v7(),
            100 + i % 10_000,
        )?;
        if (i + 1) % ROWS_PER_CHUNK == 0 {
            copy.send(std::mem::take(&mut chunk).into_bytes()).await?;
        }
    }
    if !chunk.is_empty() {
        copy.send(chunk.into_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}
