//! `payctl recon`: reconcile a provider's day in-process (with a progress bar), list batches,
//! show one with its discrepancies, and resolve a discrepancy — audited with who, when, what and
//! why, never a silent edit.

use crate::output::{self, at, or_dash};
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use paygate::broker::topology::Topology;
use paygate::recon::args::ReconArgs;
use paygate::recon::{Kind, Progress, Run, engine, proofs};
use paygate::runtime::config::CommonConfig;
use paygate::runtime::database;
use paygate::store::recon;
use serde_json::json;
use std::time::Duration;

#[derive(Debug, clap::Subcommand)]
pub enum ReconCommand {
    /// Reconcile one provider's trade bill (or settlement, or query sweep) of one day now,
    /// resuming the batch if it was interrupted; shows a progress bar on a terminal. A provider
    /// without bills (LINE Pay) is swept: each of our payments and refunds of the day is queried.
    Run {
        /// The provider, e.g. mockpay.
        provider: String,
        /// The day, yyyy-mm-dd (the provider's day; UTC for mockpay).
        #[arg(value_parser = parse_day)]
        date: NaiveDate,
        /// Reconcile the settlement (T+1) instead of the trade bill.
        #[arg(long, conflicts_with = "sweep")]
        settlement: bool,
        /// Query each of our payments and refunds of the day instead of reading the trade bill
        /// (what a provider without bills always gets), at most RECON_SWEEP_PER_SECOND a second.
        #[arg(long)]
        sweep: bool,
        #[command(flatten)]
        recon: ReconArgs,
    },
    /// The most recent batches.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One batch: its counts and every discrepancy.
    Show {
        /// The batch id.
        id: i64,
    },
    /// Settle (or re-query) one discrepancy, with a reason; recorded in its audit trail.
    Resolve {
        /// The discrepancy id.
        id: i64,
        /// accept (explained; nothing to change), provider_corrected (the provider fixed its
        /// books), write_off (the difference is booked as a loss or gain), or requery (ask the
        /// provider again through the dispatcher; stays open).
        #[arg(long, value_parser = ["accept", "provider_corrected", "write_off", "requery"])]
        action: String,
        /// Why, in words.
        #[arg(long)]
        reason: String,
        /// Who decides (default: $USER).
        #[arg(long, env = "USER")]
        by: String,
    },
}

fn parse_day(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("must be yyyy-mm-dd, got {s:?}"))
}

pub async fn run(common: &CommonConfig, command: ReconCommand, json: bool) -> anyhow::Result<()> {
    let pool = database::connect_and_migrate(common).await?;
    match command {
        ReconCommand::Run { provider, date, settlement, sweep, recon: args } => {
            let providers = args.providers()?;
            let Some(adapter) = providers.get(&provider) else {
                anyhow::bail!(
                    "provider: {provider:?} is not configured (configured: {:?}; PROVIDERS names them)",
                    providers.names()
                );
            };
            let topology = Topology::new(common.topology_config())?;
            let kind = match (settlement, sweep || !adapter.offers_bills()) {
                (true, true) => anyhow::bail!(
                    "--settlement: {provider} offers no settlement to download; reconcile it with a query sweep (no flag)"
                ),
                (true, false) => Kind::Settlement,
                (false, true) => Kind::Sweep,
                (false, false) => Kind::Trade,
            };
            let bar = Bar::new(json);
            let config = args.config().for_provider(&providers, &provider);
            let run = Run { provider: &provider, day: date, kind, config };
            let batch = engine::run(&pool, &topology, adapter.as_ref(), run, &bar).await;
            bar.0.finish_and_clear();
            let batch = batch?;
            let mut conn = pool.acquire().await?;
            let found = recon::discrepancies(&mut conn, batch.id).await?;
            print_batch(&batch, &found, json)
        }
        ReconCommand::List { limit } => {
            let mut conn = pool.acquire().await?;
            let batches = recon::batches(&mut conn, limit).await?;
            if json {
                return output::json(&batches);
            }
            let mut table = output::table(&[
                "id", "provider", "day", "kind", "state", "lines", "found", "open", "waiting", "runs",
                "finished",
            ]);
            for b in &batches {
                table.add_row(vec![
                    b.id.to_string(),
                    b.provider.clone(),
                    b.day.to_string(),
                    b.kind.clone(),
                    b.state.clone(),
                    b.lines_loaded.to_string(),
                    count(&b.counts["discrepancies"]),
                    b.open.to_string(),
                    count(&b.counts["waiting"]),
                    b.runs.to_string(),
                    or_dash(b.finished_at.map(at)),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        ReconCommand::Show { id } => {
            let mut conn = pool.acquire().await?;
            let batch =
                recon::batch(&mut conn, id).await?.ok_or_else(|| anyhow::anyhow!("id: no batch {id}"))?;
            let found = recon::discrepancies(&mut conn, id).await?;
            print_batch(&batch, &found, json)
        }
        ReconCommand::Resolve { id, action, reason, by } => {
            let row = if action == "requery" {
                let topology = Topology::new(common.topology_config())?;
                proofs::requery(&pool, &topology, id, &by, &reason).await?
            } else {
                let mut tx = pool.begin().await?;
                let row = recon::resolve(
                    &mut tx,
                    id,
                    &recon::Action {
                        action: &action,
                        actor: &by,
                        reason: &reason,
                        to_state: "resolved",
                        proof: None,
                    },
                )
                .await?;
                tx.commit().await?;
                row
            };
            if json {
                return output::json(&row);
            }
            println!(
                "discrepancy {id}: {} -> {} ({}) by {} at {}: {}",
                row.from_state,
                row.to_state,
                row.action,
                row.actor,
                at(row.at),
                row.reason
            );
            Ok(())
        }
    }
}

fn count(v: &serde_json::Value) -> String {
    v.as_i64().unwrap_or(0).to_string()
}

fn print_batch(batch: &recon::Batch, found: &[recon::Discrepancy], json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(&json!({"batch": batch, "discrepancies": found}));
    }
    println!(
        "batch {} · {} {} {} · {} · {} line(s) · run {} time(s){}",
        batch.id,
        batch.provider,
        batch.day,
        batch.kind,
        batch.state,
        batch.lines_loaded,
        batch.runs,
        batch.error.as_ref().map(|e| format!(" · error: {e}")).unwrap_or_default()
    );
    println!("counts: {}", batch.counts);
    if found.is_empty() {
        println!("no discrepancies");
        return Ok(());
    }
    let mut table =
        output::table(&["id", "kind", "state", "payment", "refund", "provider txn", "detail", "resolution"]);
    for d in found {
        table.add_row(vec![
            d.id.to_string(),
            d.kind.clone(),
            d.state.clone(),
            or_dash(d.payment_id),
            or_dash(d.refund_id),
            or_dash(d.provider_txn_id.clone()),
            d.detail.clone(),
            or_dash(
                d.resolution.as_ref().map(|r| format!("{r} ({})", d.resolved_by.clone().unwrap_or_default())),
            ),
        ]);
    }
    println!("{table}");
    Ok(())
}

/// The progress bar (hidden when stderr is not a terminal, or with --json).
struct Bar(ProgressBar);

impl Bar {
    fn new(json: bool) -> Self {
        let bar = if json { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
        bar.set_style(
            // `per_sec:0`: whole lines a second (indicatif's default shows four decimals).
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} {msg}: {human_pos} lines ({per_sec:0})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message("starting");
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(bar)
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str) {
        self.0.set_message(name.to_owned());
    }

    fn lines(&self, total: u64) {
        self.0.set_position(total);
    }
}
