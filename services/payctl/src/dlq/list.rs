//! `payctl dlq list`: every dead-letter queue of the topology, with its depth, the age of its
//! oldest message and its messages counted by kind of reason. Reads every message (at most
//! [`SCAN_LIMIT`](super::reading::SCAN_LIMIT) per queue) and hands them all back
//! ([`reading`](super::reading)).

use super::reading::{self, Session, age};
use crate::output::{self, or_dash};
use chrono::{DateTime, Utc};
use paygate::broker::topology::Topology;
use paygate::runtime::config::CommonConfig;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
struct QueueSummary {
    queue: String,
    depth: u32,
    /// When the oldest message died (the head of the queue).
    oldest_dead_lettered_at: Option<DateTime<Utc>>,
    oldest_age_seconds: Option<i64>,
    by_reason: BTreeMap<String, u32>,
    /// Whether only the first messages were counted (the queue is deeper than the scan limit).
    partial: bool,
}

pub async fn run(common: &CommonConfig, json: bool) -> anyhow::Result<()> {
    let topology = Topology::new(common.topology_config())?;
    let now = Utc::now();
    let mut summaries = Vec::new();
    for queue in reading::dead_letter_queues(&topology) {
        let mut session = Session::open(common, &queue).await?;
        let mut summary = QueueSummary {
            queue: queue.clone(),
            depth: session.depth,
            oldest_dead_lettered_at: None,
            oldest_age_seconds: None,
            by_reason: BTreeMap::new(),
            partial: session.depth > reading::SCAN_LIMIT,
        };
        let mut held = Vec::new();
        let scanned = async {
            while let Some(h) = session.next().await? {
                if summary.oldest_dead_lettered_at.is_none() {
                    summary.oldest_dead_lettered_at = h.letter.died_at();
                }
                *summary.by_reason.entry(h.letter.kind.clone()).or_default() += 1;
                held.push(h);
            }
            anyhow::Ok(())
        }
        .await;
        session.release().await;
        scanned?;
        summary.oldest_age_seconds = summary.oldest_dead_lettered_at.map(|t| (now - t).num_seconds());
        summaries.push(summary);
    }
    if json {
        return output::json(&summaries);
    }
    let mut table = output::table(&["queue", "depth", "oldest", "by reason"]);
    for s in &summaries {
        let reasons = s.by_reason.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ");
        table.add_row(vec![
            s.queue.clone(),
            s.depth.to_string(),
            or_dash(s.oldest_dead_lettered_at.map(|t| age(t, now))),
            if s.partial { format!("{reasons} (first {} counted)", reading::SCAN_LIMIT) } else { reasons },
        ]);
    }
    println!("{table}");
    let total: u64 = summaries.iter().map(|s| u64::from(s.depth)).sum();
    println!("{total} dead letter(s) in {} queue(s)", summaries.len());
    Ok(())
}
