//! The commands ingest takes, one module each: every module reads as parse → apply → emit.
//! Parsing is [`Command::parse`](paygate::messages::commands::Command::parse) (shared, so the
//! contract in docs/messages.md is tested in one place); `apply` checks the command against the
//! database, pre-commits what is new, and routes the work to the order's shard through the
//! outbox, all in the consumer's transaction. A refused command becomes a [`CommandOutcome::Rejected`],
//! which the handler turns into a `command.rejected` event (`crate::rejection`).
//!
//! [`apply`] is the one way in: the AMQP handler (`crate::handler`) and the HTTP API
//! (`crate::api`) both call it with the parsed command and its context, so a command is checked,
//! de-duplicated and pre-committed the same whichever way it came.
//!
//! Ingest never changes an order that exists: that is the provider-dispatcher's alone
//! (docs/architecture.md, decision 1). It inserts new payments and refunds, and emits work.

pub mod capture;
pub mod close;
pub mod decide_refund;
pub mod pay;
pub mod query;
pub mod refund;
pub mod void;

use paygate::broker::consumer::HandlerError;
use paygate::broker::envelope::Envelope;
use paygate::broker::outbox::{self, OutboxError};
use paygate::broker::topology::Topology;
use paygate::domain::ValidationError;
use paygate::messages::commands::Command;
use paygate::messages::orders::OrderWork;
use paygate::messages::to_shard::to_shard;
use paygate::providers::ProviderNames;
use paygate::store::StoreError;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

/// Applies `command` in the caller's transaction: the one code path of every command, whether
/// it came from the commands queue or the HTTP API.
pub async fn apply(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    command: &Command,
) -> Result<CommandOutcome, HandlerError> {
    match command {
        Command::Pay(c) => pay::apply(conn, ctx, c).await,
        Command::Refund(c) => refund::apply(conn, ctx, c).await,
        Command::Close(c) => close::apply(conn, ctx, c).await,
        Command::Query(c) => query::apply(conn, ctx, c).await,
        Command::ApproveRefund(c) => decide_refund::apply(conn, ctx, c, true).await,
        Command::RejectRefund(c) => decide_refund::apply(conn, ctx, c, false).await,
        Command::Capture(c) => capture::apply(conn, ctx, c).await,
        Command::Void(c) => void::apply(conn, ctx, c).await,
    }
}

/// What every command's `apply` needs besides the database.
pub struct Context<'a> {
    pub topology: &'a Topology,
    pub providers: &'a ProviderNames,
    /// The command's envelope: its message id is the cause in the history, its correlation id
    /// and `reply_to` travel on with the work.
    pub cause: &'a Envelope<Value>,
}

impl Context<'_> {
    /// The command's correlation id, or its message id when it has none: what every message it
    /// causes carries (`Envelope::caused_by`), and what is stored with the payment or refund it
    /// creates.
    pub fn correlation_id(&self) -> String {
        self.cause.correlation_id.clone().unwrap_or_else(|| self.cause.message_id.to_string())
    }
}

/// What became of a command.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    /// New work was routed to the order's shard.
    Accepted,
    /// The same command was seen before: the order's current state is reported again.
    Duplicate,
    /// Refused, with the field and the rule.
    Rejected(Rejection),
}

impl CommandOutcome {
    /// The metrics label: `accepted`, `duplicate` or `rejected`.
    pub fn label(&self) -> &'static str {
        match self {
            CommandOutcome::Accepted => "accepted",
            CommandOutcome::Duplicate => "duplicate",
            CommandOutcome::Rejected(_) => "rejected",
        }
    }
}

/// A refused command: the broken rule, which kind of refusal it is, and which merchant order it
/// was about when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub error: ValidationError,
    pub kind: RejectionKind,
    pub merchant_id: Option<String>,
    pub merchant_order_no: Option<String>,
}

/// Why a command was refused, for an answer that says more than the rule (the HTTP API's status
/// and code; the `command.rejected` event carries only the field and the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// A field breaks a rule of its own (a provider not configured, an expiry past, …).
    Invalid,
    /// The payment or refund it names does not exist (for this merchant).
    NotFound,
    /// The merchant's number is taken by a command with other parameters.
    IdempotencyConflict,
    /// The order exists but its state does not allow it now.
    WrongState,
}

impl Rejection {
    /// A rejection about a known merchant (and order, when the command names one).
    pub fn of(merchant_id: &str, merchant_order_no: Option<&str>, error: ValidationError) -> CommandOutcome {
        Self::of_kind(RejectionKind::Invalid, merchant_id, merchant_order_no, error)
    }

    /// [`Rejection::of`] with its kind.
    pub fn of_kind(
        kind: RejectionKind,
        merchant_id: &str,
        merchant_order_no: Option<&str>,
        error: ValidationError,
    ) -> CommandOutcome {
        CommandOutcome::Rejected(Rejection {
            error,
            kind,
            merchant_id: Some(merchant_id.to_owned()),
            merchant_order_no: merchant_order_no.map(str::to_owned),
        })
    }
}

/// The request fingerprint of a parsed command: `sha256:` and the hex SHA-256 of its canonical
/// JSON (object keys sorted at every level, no whitespace). The same command gives the same
/// fingerprint whatever the order of the fields upstream sent; any parameter that differs gives
/// another, which is how a repeat is told from an idempotency conflict.
pub fn fingerprint<T: Serialize>(command: &T) -> String {
    let value = serde_json::to_value(command).unwrap_or(Value::Null);
    let mut canonical = String::new();
    write_canonical(&value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Routes an `order.report` of the payment to the command's asker: the answer to a repeat.
pub async fn report(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    payment_id: uuid::Uuid,
) -> Result<(), HandlerError> {
    let report = OrderWork::Report {
        payment_id,
        refund_id: None,
        reply_to: ctx.cause.reply_to.clone(),
        correlation_id: ctx.cause.correlation_id.clone(),
    };
    route(conn, ctx, &report).await
}

/// Puts `work` in the outbox for the orders exchange, keyed on its payment id so that it lands
/// on the order's shard. It carries the command's correlation id and `reply_to`.
pub async fn route(conn: &mut PgConnection, ctx: &Context<'_>, work: &OrderWork) -> Result<(), HandlerError> {
    let message = routed(ctx, work)?;
    outbox::enqueue_prepared(conn, &[message]).await.map_err(HandlerError::from)
}

/// The message [`route`] puts in the outbox, prepared, for a store function that inserts it in the
/// same statement as the change it follows from.
pub fn routed(ctx: &Context<'_>, work: &OrderWork) -> Result<outbox::Prepared, HandlerError> {
    let mut message = to_shard(ctx.topology, work).caused_by(ctx.cause);
    message.envelope.reply_to = ctx.cause.reply_to.clone();
    message.prepare().map_err(outbox_error)
}

/// A store error as the consumer sees it: the database may work next time; anything else will
/// not (a corrupt row, a refused transition, a lost race under a lock).
pub fn store_error(e: StoreError) -> HandlerError {
    match e {
        StoreError::Database(e) => HandlerError::from(e),
        other => HandlerError::permanent(other),
    }
}

/// An outbox error as the consumer sees it: only a database error is worth retrying.
pub fn outbox_error(e: OutboxError) -> HandlerError {
    match e {
        OutboxError::Db(e) => HandlerError::from(e),
        other => HandlerError::permanent(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprints_ignore_field_order_and_see_every_value() {
        let a = fingerprint(&json!({"b": 1, "a": {"y": [1, 2], "x": "s"}}));
        let b = fingerprint(&json!({"a": {"x": "s", "y": [1, 2]}, "b": 1}));
        assert_eq!(a, b);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64, "{a}");
        assert_ne!(a, fingerprint(&json!({"a": {"x": "s", "y": [2, 1]}, "b": 1})));
        assert_ne!(a, fingerprint(&json!({"a": {"x": "s", "y": [1, 2]}, "b": "1"})));
    }
}
