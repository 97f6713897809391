//! Creates waiting for the provider's first answer (`API_CREATE_WAIT_MS`), watched together.
//!
//! A create over HTTP answers `201` with the customer's action when the provider answers within
//! the wait. The dispatcher writes that answer to the payment's row, so something must read the
//! row until it shows. Each create polling its own row every 50 ms cost one query per create per
//! tick: 256 creates in flight were over 5,000 reads a second, on the database the payments they
//! waited for were being written to. Here every waiting create registers its payment, and one
//! task ([`ProviderWait::watch`]) reads all of them in one query a tick, handing each create its
//! payment once the provider has answered. The task sleeps while nobody waits. A create that
//! times out drops its ticket and is forgotten at the next tick.

use paygate::state_machine::PaymentState;
use paygate::store::StoredRow;
use paygate::store::payments::Payment;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

/// How often the waiting payments are read.
const TICK: Duration = Duration::from_millis(50);

/// A payment by its merchant and order number.
type Key = (String, String);

/// The creates waiting for their provider's answer.
#[derive(Default)]
pub struct ProviderWait {
    waiting: Mutex<HashMap<Key, Vec<oneshot::Sender<Payment>>>>,
    /// Wakes the watcher when the first create registers.
    registered: Notify,
}

/// Whether the provider has answered about a payment in `state` with `action`: the customer has
/// something to do, or the payment is past waiting for the provider (`unknown`, an ambiguous
/// call, is still waiting: a query will decide).
pub fn provider_answered(state: PaymentState, has_action: bool) -> bool {
    has_action || !matches!(state, PaymentState::Created | PaymentState::Pending | PaymentState::Unknown)
}

impl ProviderWait {
    /// The payment once its provider has answered, or `None` when `wait` passed first (or nobody
    /// watches: [`ProviderWait::watch`] is not running).
    pub async fn until_answered(&self, merchant_id: &str, order_no: &str, wait: Duration) -> Option<Payment> {
        let (ticket, answered) = oneshot::channel();
        self.lock().entry((merchant_id.to_owned(), order_no.to_owned())).or_default().push(ticket);
        self.registered.notify_one();
        tokio::time::timeout(wait, answered).await.ok().and_then(Result::ok)
    }

    /// Reads the waiting payments every tick and hands out those answered, until `stop`.
    pub async fn watch(&self, db: PgPool, stop: CancellationToken) {
        loop {
            let waiting = self.still_waiting();
            if waiting.is_empty() {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = self.registered.notified() => continue,
                }
            }
            match read(&db, &waiting).await {
                Ok(found) => self.hand_out(found),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the payments waiting for their provider")
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<oneshot::Sender<Payment>>>> {
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The payments someone still waits for; forgets those whose creates gave up.
    fn still_waiting(&self) -> Vec<Key> {
        let mut waiting = self.lock();
        waiting.retain(|_, tickets| {
            tickets.retain(|t| !t.is_closed());
            !tickets.is_empty()
        });
        waiting.keys().cloned().collect()
    }

    fn hand_out(&self, found: Vec<Payment>) {
        let mut waiting = self.lock();
        for payment in found {
            if !provider_answered(payment.state, payment.customer_action.is_some()) {
                continue;
            }
            let key = (payment.merchant_id.as_str().to_owned(), payment.merchant_order_no.clone());
            for ticket in waiting.remove(&key).unwrap_or_default() {
                let _gave_up = ticket.send(payment.clone());
            }
        }
    }

    #[cfg(test)]
    fn waiting_count(&self) -> usize {
        self.lock().len()
    }
}

async fn read(db: &PgPool, keys: &[Key]) -> Result<Vec<Payment>, paygate::store::StoreError> {
    let (merchants, numbers): (Vec<String>, Vec<String>) = keys.iter().cloned().unzip();
    let mut conn = db.acquire().await?;
    Payment::find_by_numbers(&mut conn, &merchants, &numbers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_action_or_a_state_past_the_provider_call_is_an_answer() {
        assert!(!provider_answered(PaymentState::Created, false));
        assert!(!provider_answered(PaymentState::Pending, false));
        assert!(provider_answered(PaymentState::Pending, true));
        assert!(provider_answered(PaymentState::ActionRequired, false));
        assert!(provider_answered(PaymentState::Succeeded, false));
        assert!(!provider_answered(PaymentState::Unknown, false));
    }

    #[tokio::test]
    async fn a_create_that_gave_up_is_forgotten_and_none_is_answered_without_a_watcher() {
        let wait = ProviderWait::default();
        assert_eq!(wait.until_answered("m", "o-1", Duration::from_millis(10)).await, None);
        assert_eq!(wait.waiting_count(), 1, "registered until the next tick");
        assert!(wait.still_waiting().is_empty());
        assert_eq!(wait.waiting_count(), 0);
    }
}
