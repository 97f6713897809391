//! `payctl dlq replay <queue> (--message-id ID… | --all) [--dry-run]`: dead letters republished
//! to where they came from, with their message id kept.
//!
//! Each is sent back to its original exchange and routing key (the `x-paygate-original-*`
//! headers a consumer sets when it dead-letters, else RabbitMQ's `x-death`, else straight to the
//! work queue), body and properties unchanged but for the dead-letter headers (removed) and
//! `x-paygate-replayed-by`. Same message id: a consumer whose inbox already holds it (the message
//! had been applied after all, or was replayed before) acknowledges it without applying it again.
//!
//! One message at a time: publish (mandatory, on a confirm channel), wait for the broker's
//! confirm, write the audit row, and only then acknowledge the dead letter. If payctl dies
//! anywhere in between, the dead letter is still in its queue (the broker returns what payctl
//! held): at worst it is both there and republished, and the inbox absorbs the duplicate when it
//! is replayed again. A replay that cannot be confirmed stops the command with an error; what was
//! not acknowledged stays in the queue.
//!
//! With `--message-id`, every copy of a named message is replayed (a queue may hold two, after a
//! crash between a consumer's dead-lettering and its acknowledgement). The names must all be in
//! the queue: they are looked for first (reading the whole
//! queue and handing it back), and an unknown one stops the command before anything is replayed.

use super::audit::{Action, Audit};
use super::reading::{self, DeadLetter, Held, Session};
use crate::output::{self, or_dash};
use lapin::types::{AMQPValue, FieldTable};
use paygate::broker::envelope::headers;
use paygate::broker::publisher::{Publisher, Routing};
use paygate::broker::topology::Topology;
use paygate::domain::{OperatorId, ValidationError};
use paygate::runtime::config::CommonConfig;
use paygate::runtime::database;
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

/// Fault point for the crash test: a replay confirmed and audited, its dead letter not yet
/// acknowledged.
pub const AFTER_CONFIRM: &str = "payctl.dlq_replay.after_confirm";
/// How long to wait for the broker's confirm of one replay.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// The headers a replayed copy loses: the broker's and paygate's dead-letter records (a new death
/// gets new ones) and the old delivery count.
const DEAD_LETTER_HEADERS: [&str; 14] = [
    "x-death",
    "x-first-death-reason",
    "x-first-death-queue",
    "x-first-death-exchange",
    "x-last-death-reason",
    "x-last-death-queue",
    "x-last-death-exchange",
    headers::DELIVERY_COUNT,
    headers::REJECT_REASON,
    headers::REJECTED_BY,
    headers::DEAD_LETTER_KIND,
    headers::DEAD_LETTERED_AT,
    headers::ORIGINAL_EXCHANGE,
    headers::ORIGINAL_ROUTING_KEY,
];

/// What to replay.
pub struct Selection {
    /// Every message (`--all`), or these ids.
    pub ids: Option<BTreeSet<String>>,
    pub dry_run: bool,
    pub operator: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct Replayed {
    queue: String,
    dry_run: bool,
    /// Groups the audit rows of this replay.
    action_id: Option<Uuid>,
    messages: Vec<DeadLetter>,
}

pub async fn run(common: &CommonConfig, queue: &str, selection: Selection, json: bool) -> anyhow::Result<()> {
    let topology = Topology::new(common.topology_config())?;
    reading::check_queue(&topology, queue)?;
    let reason =
        selection.reason.as_deref().map(|r| paygate::messages::fields::text("reason", r, 256)).transpose()?;
    let operator = match (&selection.operator, selection.dry_run) {
        (Some(o), _) => Some(OperatorId::parse(o).map_err(|e| e.with_field("operator"))?),
        (None, true) => None,
        (None, false) => {
            return Err(ValidationError::new(
                "operator",
                "is required to replay: --operator or PAYCTL_OPERATOR (who replays is audited)",
            )
            .into());
        }
    };
    if let Some(ids) = &selection.ids {
        check_ids(common, queue, ids).await?;
    }
    let mut out = Replayed {
        queue: queue.to_owned(),
        dry_run: selection.dry_run,
        action_id: None,
        messages: Vec::new(),
    };
    if selection.dry_run {
        let mut session = Session::open(common, queue).await?;
        let mut held = Vec::new();
        let read = async {
            while let Some(h) = session.next().await? {
                if selected(&selection, &h) {
                    out.messages.push(h.letter.clone());
                }
                held.push(h);
            }
            anyhow::Ok(())
        }
        .await;
        session.release().await;
        read?;
    } else {
        let operator = operator.expect("checked above");
        let pool = database::connect_and_migrate(common).await?;
        let audit = Audit {
            action_id: Uuid::now_v7(),
            action: Action::Replay,
            operator: &operator,
            queue,
            reason: reason.as_deref(),
        };
        out.action_id = Some(audit.action_id);
        let mut session = Session::open(common, queue).await?;
        let publisher = Publisher::new(&session.conn).await?;
        let mut held = Vec::new();
        let done = async {
            while let Some(h) = session.next().await? {
                if !selected(&selection, &h) {
                    held.push(h);
                    continue;
                }
                replay_one(&publisher, &h, &operator).await?;
                audit.record(&pool, &h.letter).await?;
                if paygate::fault_points::fails(AFTER_CONFIRM) {
                    eprintln!("payctl: fault point {AFTER_CONFIRM} reached; holding until killed");
                    std::future::pending::<()>().await;
                }
                session.ack(&h).await?;
                out.messages.push(h.letter);
            }
            anyhow::Ok(())
        }
        .await;
        publisher.close().await;
        session.release().await;
        if let Err(e) = done {
            print(&out, json)?;
            return Err(e.context(format!(
                "replay stopped after {} message(s); the rest are still in {queue}",
                out.messages.len()
            )));
        }
    }
    print(&out, json)
}

fn selected(selection: &Selection, h: &Held) -> bool {
    match &selection.ids {
        None => true,
        Some(ids) => h.letter.message_id.as_ref().is_some_and(|id| ids.contains(id)),
    }
}

/// Every id in `ids` is in the queue, or an error naming the first that is not.
async fn check_ids(common: &CommonConfig, queue: &str, ids: &BTreeSet<String>) -> anyhow::Result<()> {
    let mut session = Session::open(common, queue).await?;
    let mut found = BTreeSet::new();
    let mut held = Vec::new();
    let read = async {
        while let Some(h) = session.next().await? {
            if let Some(id) = &h.letter.message_id {
                found.insert(id.clone());
            }
            held.push(h);
        }
        anyhow::Ok(())
    }
    .await;
    let depth = session.depth;
    session.release().await;
    read?;
    if let Some(missing) = ids.iter().find(|id| !found.contains(*id)) {
        let rule = format!(
            "no message {missing:?} in {queue} ({depth} message(s) looked at; `payctl dlq show {queue}` lists them); nothing was replayed"
        );
        return Err(ValidationError::new("message-id", rule).into());
    }
    Ok(())
}

/// Publishes the copy to the message's origin and waits for the broker's confirm.
async fn replay_one(publisher: &Publisher, h: &Held, operator: &OperatorId) -> anyhow::Result<()> {
    let props = h.delivery.properties.clone();
    let mut kept = FieldTable::default();
    if let Some(old) = props.headers() {
        for (k, v) in old.inner() {
            let name = k.as_str();
            if !DEAD_LETTER_HEADERS.contains(&name) {
                kept.insert(k.clone(), v.clone());
            }
        }
    }
    kept.insert(headers::REPLAYED_BY.into(), AMQPValue::LongString(operator.as_str().into()));
    let origin = &h.letter.origin;
    publisher
        .send_raw(
            &origin.exchange,
            &origin.routing_key,
            &h.delivery.data,
            props.with_headers(kept),
            Routing::Mandatory,
        )
        .await?
        .confirmed_within(CONFIRM_TIMEOUT)
        .await?;
    Ok(())
}

fn print(out: &Replayed, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(out);
    }
    let mut table =
        output::table(&["message id", "type", "order key", "reason", "to exchange", "routing key"]);
    for m in &out.messages {
        table.add_row(vec![
            or_dash(m.message_id.as_deref()),
            or_dash(m.message_type.as_deref()),
            or_dash(m.order_key.as_deref()),
            m.kind.clone(),
            format!("{:?}", m.origin.exchange),
            m.origin.routing_key.clone(),
        ]);
    }
    println!("{table}");
    let n = out.messages.len();
    if out.dry_run {
        println!("dry run: {n} message(s) of {} would be replayed; nothing was changed", out.queue);
    } else {
        println!("{n} message(s) of {} replayed (audit action {})", out.queue, or_dash(out.action_id));
    }
    Ok(())
}
