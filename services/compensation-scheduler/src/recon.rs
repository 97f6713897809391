//! The scheduler's reconciliation duties: every day at `RECON_DAILY_AT` (UTC) the trade bill and
//! the settlement of yesterday for every configured provider (a query sweep of yesterday for a
//! provider without bills: `Kind::daily`), and every few seconds the
//! settling of discrepancies whose proving query has been answered ([`proofs::settle_proven`]).
//! Several scheduler instances may run: a batch's advisory lock lets one of them run it, and a
//! batch already finished for the day is not run again by the schedule. The engine itself is
//! the library's ([`paygate::recon`]); this is only when the scheduler runs it.

use chrono::{DateTime, Duration as Days, NaiveTime, Utc};
use paygate::broker::topology::Topology;
use paygate::providers::ProviderRegistry;
use paygate::recon::{Kind, Quiet, ReconConfig, Run, engine, proofs};
use paygate::store::recon;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often answered proofs are looked for.
pub const PROOF_INTERVAL: Duration = Duration::from_secs(5);

/// Everything the reconciliation task needs.
pub struct Reconciler {
    pub pool: PgPool,
    pub topology: Arc<Topology>,
    pub providers: ProviderRegistry,
    pub config: ReconConfig,
    pub daily_at: NaiveTime,
}

/// The next time `at` (UTC) after `now`.
pub fn next_run(now: DateTime<Utc>, at: NaiveTime) -> DateTime<Utc> {
    let today = now.date_naive().and_time(at).and_utc();
    if today > now { today } else { today + Days::days(1) }
}

impl Reconciler {
    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut next_daily = next_run(Utc::now(), self.daily_at);
        loop {
            let wait = (next_daily - Utc::now()).to_std().unwrap_or_default().min(PROOF_INTERVAL);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            // Shutdown never waits for a pass (a batch resumes from its cursor next time).
            let pass = async {
                if let Err(e) = proofs::settle_proven(&self.pool).await {
                    tracing::warn!(error = %format!("{e:#}"), "settling proven discrepancies failed");
                }
                if Utc::now() >= next_daily {
                    self.daily().await;
                    next_daily = next_run(Utc::now(), self.daily_at);
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = pass => {}
            }
        }
    }

    /// Yesterday's trade bill and settlement (or query sweep) for every provider.
    pub async fn daily(&self) {
        let day = Utc::now().date_naive() - Days::days(1);
        for name in self.providers.names() {
            let Some(adapter) = self.providers.get(name) else { continue };
            for &kind in Kind::daily(adapter.offers_bills()) {
                if let Ok(mut conn) = self.pool.acquire().await
                    && let Ok(Some(b)) = recon::batch_of(&mut conn, name, day, kind.as_str()).await
                    && matches!(b.state.as_str(), "matched" | "discrepancies")
                {
                    continue;
                }
                let run = Run {
                    provider: name,
                    day,
                    kind,
                    config: self.config.for_provider(&self.providers, name),
                };
                match engine::run(&self.pool, &self.topology, adapter.as_ref(), run, &Quiet).await {
                    Ok(b) => tracing::info!(provider = name, %day, kind = kind.as_str(), state = %b.state,
                                            counts = %b.counts, "reconciled"),
                    Err(e) => tracing::error!(provider = name, %day, kind = kind.as_str(),
                                              error = %format!("{e:#}"), "reconciliation failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_next_run_is_today_or_tomorrow() {
        let at = NaiveTime::from_hms_opt(2, 0, 0).unwrap();
        let early = Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap();
        assert_eq!(next_run(early, at), Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap());
        let late = Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap();
        assert_eq!(next_run(late, at), Utc.with_ymd_and_hms(2026, 1, 2, 2, 0, 0).unwrap());
    }
}
