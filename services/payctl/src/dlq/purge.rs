//! `payctl dlq purge <queue> --yes --reason "…"`: drops every dead letter of a queue, for good,
//! with a record of who purged which messages and why.
//!
//! Refused without `--yes` and without a reason. payctl reads every message (holding them
//! unacknowledged), writes one audit row per message in one transaction, and only then
//! acknowledges them: if the audit cannot be written nothing is dropped, and if payctl dies after
//! the audit, the messages are still in the queue (the audit then names messages that a second
//! purge will drop again). Only the messages present when the purge began are dropped; one that
//! arrives meanwhile stays.

use super::audit::{Action, Audit};
use super::reading::{self, DeadLetter, Session};
use crate::output::{self, or_dash};
use paygate::broker::topology::Topology;
use paygate::domain::{OperatorId, ValidationError};
use paygate::messages::fields::text;
use paygate::runtime::config::CommonConfig;
use paygate::runtime::database;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize)]
struct Purged {
    queue: String,
    action_id: Uuid,
    operator: String,
    reason: String,
    messages: Vec<DeadLetter>,
}

pub async fn run(
    common: &CommonConfig,
    queue: &str,
    yes: bool,
    reason: &str,
    operator: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let topology = Topology::new(common.topology_config())?;
    reading::check_queue(&topology, queue)?;
    let reason = text("reason", reason, 256)?;
    let Some(operator) = operator else {
        let rule = "is required to purge: --operator or PAYCTL_OPERATOR (who purges is audited)";
        return Err(ValidationError::new("operator", rule).into());
    };
    let operator = OperatorId::parse(operator).map_err(|e| e.with_field("operator"))?;
    if !yes {
        let rule = format!(
            "purging drops the dead letters of {queue} for good: read them first (`payctl dlq show {queue}`), then add --yes"
        );
        return Err(ValidationError::new("yes", rule).into());
    }
    let pool = database::connect_and_migrate(common).await?;
    let audit = Audit {
        action_id: Uuid::now_v7(),
        action: Action::Purge,
        operator: &operator,
        queue,
        reason: Some(&reason),
    };
    let mut session = Session::open(common, queue).await?;
    let mut held = Vec::new();
    let done = async {
        while let Some(h) = session.next().await? {
            held.push(h);
        }
        let mut tx = pool.begin().await?;
        for h in &held {
            audit.record(&mut *tx, &h.letter).await?;
        }
        tx.commit().await?;
        for h in &held {
            session.ack(h).await?;
        }
        anyhow::Ok(())
    }
    .await;
    session.release().await;
    done?;
    let out = Purged {
        queue: queue.to_owned(),
        action_id: audit.action_id,
        operator: operator.to_string(),
        reason: reason.clone(),
        messages: held.into_iter().map(|h| h.letter).collect(),
    };
    if json {
        return output::json(&out);
    }
    let mut table = output::table(&["message id", "type", "order key", "reason"]);
    for m in &out.messages {
        table.add_row(vec![
            or_dash(m.message_id.as_deref()),
            or_dash(m.message_type.as_deref()),
            or_dash(m.order_key.as_deref()),
            m.kind.clone(),
        ]);
    }
    println!("{table}");
    println!(
        "{} message(s) of {queue} purged by {operator} (audit action {}): {reason}",
        out.messages.len(),
        out.action_id
    );
    Ok(())
}
