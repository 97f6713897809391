//! What a run holds while it runs: provider calls in flight (the dispatchers'
//! `paygate_provider_calls_in_flight`) and the bench database's connections (all, and those in a
//! query or transaction), sampled every 100 ms, with their peaks and means.

use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The peaks and means of one run's samples.
#[derive(Debug, Default, Clone)]
pub struct Peaks {
    pub samples: u64,
    pub in_flight_max: u64,
    in_flight_sum: u64,
    pub connections_max: u64,
    pub busy_connections_max: u64,
    busy_connections_sum: u64,
}

impl Peaks {
    pub fn in_flight_mean(&self) -> u64 {
        self.in_flight_sum / self.samples.max(1)
    }

    pub fn busy_connections_mean(&self) -> u64 {
        self.busy_connections_sum / self.samples.max(1)
    }

    /// One line for the report.
    pub fn line(&self) -> String {
        format!(
            "provider calls in flight: max {}, mean {}; database connections: max {} open, busy max {}, mean {} ({} samples)",
            self.in_flight_max,
            self.in_flight_mean(),
            self.connections_max,
            self.busy_connections_max,
            self.busy_connections_mean(),
            self.samples
        )
    }
}

/// Samples until `stop` is cancelled; the peaks come back from the task.
pub fn sample(
    pool: PgPool,
    database: String,
    dispatchers: Vec<String>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Peaks> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(1)).build().ok();
        let mut peaks = Peaks::default();
        while !stop.is_cancelled() {
            let mut in_flight = 0;
            for base in &dispatchers {
                let Some(http) = &http else { break };
                if let Ok(r) = http.get(format!("{base}/metrics")).send().await
                    && let Ok(text) = r.text().await
                {
                    in_flight += gauge_sum(&text, "paygate_provider_calls_in_flight");
                }
            }
            let counts: Result<(i64, i64), _> = sqlx::query_as(
                "SELECT count(*), count(*) FILTER (WHERE state <> 'idle')
                 FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&database)
            .fetch_one(&pool)
            .await;
            let (open, busy) = counts.map_or((0, 0), |(a, b)| (a.unsigned_abs(), b.unsigned_abs()));
            peaks.samples += 1;
            peaks.in_flight_max = peaks.in_flight_max.max(in_flight);
            peaks.in_flight_sum += in_flight;
            peaks.connections_max = peaks.connections_max.max(open);
            peaks.busy_connections_max = peaks.busy_connections_max.max(busy);
            peaks.busy_connections_sum += busy;
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        peaks
    })
}

/// The sum of a metric's samples (every label set) in Prometheus text.
fn gauge_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' '])))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::gauge_sum;

    #[test]
    fn sums_every_label_set_of_the_named_metric_only() {
        let text = "# HELP x\npaygate_provider_calls_in_flight{provider=\"a\"} 3\n\
                    paygate_provider_calls_in_flight{provider=\"b\"} 4\npaygate_provider_calls_in_flight_other 9\n";
        assert_eq!(gauge_sum(text, "paygate_provider_calls_in_flight"), 7);
    }
}
