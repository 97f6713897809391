//! The dead-letter audit (migrations/0020_dead_letter_audit.sql): one row per dead letter that
//! `replay` republished or `purge` dropped, with the operator, the operator's reason, and what
//! the message's headers said.

use super::reading::DeadLetter;
use paygate::domain::OperatorId;
use sqlx::PgExecutor;
use uuid::Uuid;

/// What was done to a dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Replay,
    Purge,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Replay => "replay",
            Action::Purge => "purge",
        }
    }
}

/// One invocation of `replay` or `purge`: who, why, on which queue.
pub struct Audit<'a> {
    pub action_id: Uuid,
    pub action: Action,
    pub operator: &'a OperatorId,
    pub queue: &'a str,
    pub reason: Option<&'a str>,
}

impl Audit<'_> {
    /// Records `letter` (for a replay, republished to its origin).
    pub async fn record(&self, db: impl PgExecutor<'_>, letter: &DeadLetter) -> sqlx::Result<()> {
        let (exchange, routing_key) = match self.action {
            Action::Replay => {
                (Some(letter.origin.exchange.as_str()), Some(letter.origin.routing_key.as_str()))
            }
            Action::Purge => (None, None),
        };
        sqlx::query(
            "INSERT INTO dead_letter_audit (action_id, action, operator, queue, message_id, message_type, \
             order_key, dead_letter_reason, rejected_by, replayed_to_exchange, replayed_routing_key, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(self.action_id)
        .bind(self.action.as_str())
        .bind(self.operator.as_str())
        .bind(self.queue)
        .bind(letter.message_id.as_deref())
        .bind(letter.message_type.as_deref())
        .bind(letter.order_key.as_deref())
        .bind(letter.reason.as_deref().unwrap_or(letter.kind.as_str()))
        .bind(letter.rejected_by.as_deref())
        .bind(exchange)
        .bind(routing_key)
        .bind(self.reason)
        .execute(db)
        .await?;
        Ok(())
    }
}
