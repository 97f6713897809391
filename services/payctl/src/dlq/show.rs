//! `payctl dlq show <queue>`: the dead letters of one queue, decoded (type, order key, message
//! id, reason and who rejected it, first death, attempts, where it came from, the payload
//! pretty-printed), a page at a time (`--offset`, `--limit`). The whole queue is read and handed
//! back, so that it stays in order ([`reading`](super::reading)).

use super::reading::{self, DeadLetter, Session};
use crate::output::{self, at, or_dash};
use paygate::broker::topology::Topology;
use paygate::domain::ValidationError;
use paygate::runtime::config::CommonConfig;
use serde::Serialize;

/// The most messages one page shows.
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Serialize)]
struct Page {
    queue: String,
    depth: u32,
    offset: u32,
    limit: u32,
    messages: Vec<DeadLetter>,
}

pub async fn run(
    common: &CommonConfig,
    queue: &str,
    offset: u32,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    let topology = Topology::new(common.topology_config())?;
    reading::check_queue(&topology, queue)?;
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(
            ValidationError::new("limit", format!("must be from 1 to {MAX_LIMIT} (got {limit})")).into()
        );
    }
    if offset.saturating_add(limit) > reading::SCAN_LIMIT {
        let rule = format!("offset + limit must be at most {} (got {offset} + {limit})", reading::SCAN_LIMIT);
        return Err(ValidationError::new("offset", rule).into());
    }
    let mut session = Session::open(common, queue).await?;
    let mut page =
        Page { queue: queue.to_owned(), depth: session.depth, offset, limit, messages: Vec::new() };
    let mut held = Vec::new();
    let read = async {
        // The whole queue, so that handing it back leaves it in order (see `reading`).
        while let Some(h) = session.next().await? {
            if h.letter.position > offset as usize && page.messages.len() < limit as usize {
                page.messages.push(h.letter.clone());
            }
            held.push(h);
        }
        anyhow::Ok(())
    }
    .await;
    session.release().await;
    read?;
    if json {
        return output::json(&page);
    }
    for m in &page.messages {
        print(m);
    }
    let shown = page.messages.len();
    match (shown, page.depth) {
        (_, 0) => println!("{queue} is empty"),
        (0, depth) => println!("{queue}: nothing at offset {offset} ({depth} message(s))"),
        (n, depth) => println!(
            "{queue}: messages {} to {} of {depth}{}",
            offset + 1,
            offset as usize + n,
            if offset as usize + n < depth as usize {
                format!("; next page: --offset {}", offset as usize + n)
            } else {
                String::new()
            }
        ),
    }
    Ok(())
}

fn print(m: &DeadLetter) {
    let mut table = output::table(&["#", &m.position.to_string()]);
    let rows = [
        ("message id", or_dash(m.message_id.as_deref())),
        ("type", or_dash(m.message_type.as_deref())),
        ("order key", or_dash(m.order_key.as_deref())),
        ("reason", format!("{}: {}", m.kind, or_dash(m.reason.as_deref()))),
        ("rejected by", or_dash(m.rejected_by.as_deref())),
        ("first death", or_dash(m.first_death_at.map(at))),
        ("attempts", format!("{} retries, {} redeliveries", or_dash(m.attempt), m.deliveries.unwrap_or(0))),
        (
            "came from",
            format!(
                "exchange {:?}, routing key {:?} ({})",
                m.origin.exchange, m.origin.routing_key, m.origin.from
            ),
        ),
        ("payload", serde_json::to_string_pretty(&m.payload).unwrap_or_default()),
    ];
    for (name, value) in rows {
        table.add_row(vec![name.to_owned(), value]);
    }
    if let Some(e) = &m.body_error {
        table.add_row(vec!["body".to_owned(), e.clone()]);
    }
    println!("{table}");
}
