//! One reconciliation run: open (or resume) the batch, load the provider's file, match, prove,
//! and record the outcome (see the module documentation of [`super`]).

use super::{Kind, Progress, Run, load, matching, proofs, sweep};
use crate::broker::topology::Topology;
use crate::db::advisory_locks;
use crate::providers::bill::BillItem;
use crate::providers::bill::{BillError, BillStream};
use crate::providers::{Exchange, ProviderAdapter};
use crate::store::{exchanges, recon};
use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use serde_json::json;
use sqlx::PgPool;
use std::collections::BTreeMap;

/// An opened file: its items, and the exchange to log if it came from a provider call.
pub struct OpenedBill<'a> {
    pub items: BoxStream<'a, Result<BillItem, BillError>>,
    pub exchange: Option<Exchange>,
    /// Exchanges made before the download (e.g. the call that gave its URL), logged first.
    pub earlier: Vec<Exchange>,
    /// How many of the batch's lines the source left out because an earlier run loaded them (a
    /// query sweep asks only about what is left): `items` begins after them. A download begins
    /// at its first line (0 here), and loading skips what is loaded already.
    pub already_loaded: u64,
    /// Lines per committed chunk ([`load::CHUNK_LINES`] for a file).
    pub chunk_lines: usize,
}

impl OpenedBill<'static> {
    /// A file's items, from its first line.
    pub fn file(items: BillStream, exchange: Option<Exchange>, earlier: Vec<Exchange>) -> Self {
        Self { items, exchange, earlier, already_loaded: 0, chunk_lines: load::CHUNK_LINES }
    }
}

/// Where a run of a batch starts: the batch, and how many lines its earlier runs committed.
#[derive(Debug, Clone, Copy)]
pub struct Resume {
    pub batch_id: i64,
    pub lines_loaded: u64,
}

/// Where a batch's lines come from: the provider's adapter, or (the benchmark) a file read
/// through the same provider's streaming parser.
pub trait BillSource: Send + Sync {
    /// The zone the provider counts its days in (`ProviderAdapter::day_offset`): our payments
    /// and refunds of a day are those of the provider's day.
    fn day_offset(&self) -> chrono::FixedOffset;

    fn open(
        &self,
        kind: Kind,
        day: NaiveDate,
        resume: Resume,
    ) -> BoxFuture<'_, Result<OpenedBill<'_>, (BillError, Option<Exchange>)>>;
}

/// The provider's own download.
pub struct FromAdapter<'a>(pub &'a dyn ProviderAdapter);

impl BillSource for FromAdapter<'_> {
    fn day_offset(&self) -> chrono::FixedOffset {
        self.0.day_offset()
    }

    fn open(
        &self,
        kind: Kind,
        day: NaiveDate,
        _: Resume,
    ) -> BoxFuture<'_, Result<OpenedBill<'_>, (BillError, Option<Exchange>)>> {
        Box::pin(async move {
            let download = match kind {
                Kind::Trade => self.0.bill(day).await,
                Kind::Settlement => self.0.settlement(day).await,
                Kind::Sweep => {
                    let reason = "a query sweep is not a download (engine::run sweeps)".to_owned();
                    return Err((BillError::Download { operation: "sweep", reason }, None));
                }
            }?;
            Ok(OpenedBill::file(download.items, Some(download.exchange), download.earlier))
        })
    }
}

/// Runs (or resumes, or re-runs) the batch of `run` from the provider's download, or for
/// [`Kind::Sweep`] from the provider's answers to queries ([`sweep::QuerySweep`]). A failure is
/// recorded on the batch (`failed`, with the error; the cursor kept) and returned.
pub async fn run(
    pool: &PgPool,
    topology: &Topology,
    adapter: &dyn ProviderAdapter,
    run: Run<'_>,
    progress: &dyn Progress,
) -> anyhow::Result<recon::Batch> {
    match run.kind {
        Kind::Sweep => {
            let source = sweep::QuerySweep::new(pool.clone(), adapter, run.config.sweep_per_second);
            run_from(pool, topology, &source, run, progress).await
        }
        Kind::Trade | Kind::Settlement => {
            run_from(pool, topology, &FromAdapter(adapter), run, progress).await
        }
    }
}

/// [`run`], with the lines from `source`.
pub async fn run_from(
    pool: &PgPool,
    topology: &Topology,
    source: &dyn BillSource,
    run: Run<'_>,
    progress: &dyn Progress,
) -> anyhow::Result<recon::Batch> {
    let batch_id: i64 = sqlx::query_scalar(
        "INSERT INTO recon_batches (provider, day, kind, state, window_days)
         VALUES ($1, $2, $3, 'running', $4)
         ON CONFLICT (provider, day, kind) DO UPDATE
             SET state = 'running', runs = recon_batches.runs + 1, window_days = EXCLUDED.window_days,
                 started_at = now(), finished_at = NULL, error = NULL
         RETURNING id",
    )
    .bind(run.provider)
    .bind(run.day)
    .bind(run.kind.as_str())
    .bind(i32::try_from(run.config.window_days).unwrap_or(i32::MAX))
    .fetch_one(pool)
    .await?;
    // One run per batch at a time, held on a connection of its own for the whole run.
    let mut lock = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(advisory_locks::RECON_BATCH)
        .bind(i32::try_from(batch_id).unwrap_or(i32::MAX))
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        anyhow::bail!(
            "batch {batch_id} ({} {} {}) is being run elsewhere right now",
            run.provider,
            run.day,
            run.kind.as_str()
        );
    }
    let outcome = work(pool, topology, source, run, batch_id, progress).await;
    if let Err(e) = &outcome {
        sqlx::query(
            "UPDATE recon_batches SET state = 'failed', error = $2, finished_at = now() WHERE id = $1",
        )
        .bind(batch_id)
        .bind(format!("{e:#}"))
        .execute(pool)
        .await?;
    }
    let _ = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
        .bind(advisory_locks::RECON_BATCH)
        .bind(i32::try_from(batch_id).unwrap_or(i32::MAX))
        .execute(&mut *lock)
        .await;
    outcome?;
    let mut conn = pool.acquire().await?;
    recon::batch(&mut conn, batch_id).await?.ok_or_else(|| anyhow::anyhow!("batch {batch_id} vanished"))
}

async fn work(
    pool: &PgPool,
    topology: &Topology,
    source: &dyn BillSource,
    run: Run<'_>,
    batch_id: i64,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let batch = recon::batch(&mut conn, batch_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("batch {batch_id} vanished"))?;
    if !batch.download_complete {
        progress.phase("downloading");
        let resume = Resume { batch_id, lines_loaded: u64::try_from(batch.lines_loaded).unwrap_or(0) };
        let download = match source.open(run.kind, run.day, resume).await {
            Ok(d) => d,
            Err((e, exchange)) => {
                if let Some(x) = exchange {
                    exchanges::record(&mut conn, None, None, &x).await?;
                }
                return Err(e.into());
            }
        };
        for x in download.earlier.iter().chain(&download.exchange) {
            exchanges::record(&mut conn, None, None, x).await?;
        }
        let from = load::From {
            skip: resume.lines_loaded,
            already_loaded: download.already_loaded,
            chunk_lines: download.chunk_lines,
        };
        let (totals, lines) = load::load(pool, batch_id, from, download.items, progress).await?;
        sqlx::query(
            "UPDATE recon_batches SET download_complete = true, totals = $2, lines_loaded = $3 WHERE id = $1",
        )
        .bind(batch_id)
        .bind(serde_json::to_value(&totals)?)
        .bind(i64::try_from(lines).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await?;
    }
    progress.phase("matching");
    // Fresh statistics, so the planner joins a big bill by hashing rather than by probing.
    sqlx::query("ANALYZE recon_lines").execute(&mut *conn).await?;
    // All kinds in one transaction: a re-run sees all of a run's findings or none.
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL statement_timeout = '30min'").execute(&mut *tx).await?;
    let day_starts = crate::providers::provider_day::starts_at(run.day, source.day_offset());
    let waiting = matching::match_lines(
        &mut tx,
        batch_id,
        run.provider,
        day_starts,
        run.kind,
        run.config.window_days,
        run.config.fee_ppm,
    )
    .await?;
    if run.kind == Kind::Settlement {
        let batch = recon::batch(&mut tx, batch_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("batch {batch_id} vanished"))?;
        let totals: Vec<crate::providers::SettlementTotal> = serde_json::from_value(batch.totals)?;
        matching::settlement_totals(&mut tx, batch_id, run.provider, day_starts, &totals).await?;
    }
    tx.commit().await?;
    progress.phase("proving");
    proofs::request_proofs(pool, topology, batch_id).await?;
    proofs::settle_proven(pool).await?;

    let by_kind: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, state, count(*) FROM recon_discrepancies WHERE batch_id = $1 GROUP BY kind, state",
    )
    .bind(batch_id)
    .fetch_all(&mut *conn)
    .await?;
    let (lines, payments, refunds): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE kind = 'payment'), count(*) FILTER (WHERE kind <> 'payment')
         FROM recon_lines WHERE batch_id = $1",
    )
    .bind(batch_id)
    .fetch_one(&mut *conn)
    .await?;
    let mut kinds: BTreeMap<String, i64> = BTreeMap::new();
    let mut states: BTreeMap<String, i64> = BTreeMap::new();
    for (kind, state, n) in &by_kind {
        *kinds.entry(kind.clone()).or_default() += n;
        *states.entry(state.clone()).or_default() += n;
    }
    let found: i64 = kinds.values().sum();
    let counts = json!({
        "lines": lines, "payment_lines": payments, "refund_lines": refunds, "waiting": waiting,
        "discrepancies": found, "by_kind": kinds, "by_state": states,
    });
    let state = if found == 0 { "matched" } else { "discrepancies" };
    sqlx::query("UPDATE recon_batches SET state = $2, counts = $3, finished_at = now() WHERE id = $1")
        .bind(batch_id)
        .bind(state)
        .bind(counts)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
