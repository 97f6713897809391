//! Why a piece of work could not be applied, and what the consumer does about it: database and
//! broker trouble is transient (the message is retried; nothing committed); a corrupt row or a
//! broken invariant is permanent.

use crate::followup::FollowUpError;
use paygate::broker::consumer::HandlerError;
use paygate::broker::outbox::OutboxError;
use paygate::store::StoreError;

/// Why a piece of work could not be applied. See the module documentation. Every variant keeps
/// its cause as its `source`, so that the consumer sees a `sqlx::Error` in the chain and holds
/// the message while the database cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("the order's store failed")]
    Store(#[source] StoreError),
    #[error("the outbox failed")]
    Outbox(#[from] OutboxError),
    #[error("scheduling the follow-up failed")]
    FollowUp(#[from] FollowUpError),
    #[error("recording the provider exchange failed")]
    ExchangeLog(#[source] crate::exchange_log::LogError),
    #[error("{0}")]
    Invariant(String),
}

impl From<StoreError> for WorkError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<sqlx::Error> for WorkError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(e))
    }
}

impl From<WorkError> for HandlerError {
    fn from(e: WorkError) -> Self {
        let transient = matches!(
            &e,
            WorkError::Store(StoreError::Database(_))
                | WorkError::ExchangeLog(_)
                | WorkError::Outbox(OutboxError::Db(_))
                | WorkError::FollowUp(FollowUpError::Database(_) | FollowUpError::Outbox(OutboxError::Db(_)))
        );
        if transient { HandlerError::transient(e) } else { HandlerError::permanent(e) }
    }
}
