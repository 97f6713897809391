//! What went wrong reading or changing an order: the one error of every store module.
//!
//! A database failure is kept as the error's source, never flattened into text: the consumer
//! tells an unreachable database (wait, then retry) from a failing message by walking the chain
//! down to the `sqlx::Error` (`broker::consumer`'s `database_unavailable`).

use crate::state_machine::TransitionError;
use uuid::Uuid;

/// What went wrong reading or changing an order.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Kept as the source (not transparent), so that callers can tell an unreachable database.
    #[error("the database failed")]
    Database(#[from] sqlx::Error),
    /// The state machine refuses the event in the current state; nothing was changed.
    #[error(transparent)]
    Refused(#[from] TransitionError),
    /// A stored column does not parse (a currency, state, merchant id, provider or pay method
    /// this build does not accept).
    #[error("{entity} {id}: stored {column} is not valid: {reason}")]
    Corrupt { entity: &'static str, id: Uuid, column: &'static str, reason: String },
    /// The row changed under us although we held its lock: a bug, never retried silently.
    #[error("payment {id}: version {expected} was changed concurrently")]
    Concurrent { id: Uuid, expected: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn a_database_failure_stays_reachable_as_the_source() {
        let err = StoreError::from(sqlx::Error::PoolTimedOut);
        let source = err.source().expect("a source");
        assert!(matches!(source.downcast_ref::<sqlx::Error>(), Some(sqlx::Error::PoolTimedOut)));
    }
}
