//! The session's appliers: where the answers of every job meet before their transaction.
//!
//! A handler that prepares ([`Handler::PREPARES`](super::Handler::PREPARES)) waits on a provider
//! holding nothing, so its jobs are many and small, and their answers come back one at a time,
//! spread over the provider's latency. Applied by each job on its own, they would cost one
//! transaction each. Instead each job hands what is ready to the session's appliers (a few tasks
//! sharing one channel), and an applier takes everything waiting, up to
//! [`ConsumerConfig::batch`](super::ConsumerConfig::batch) messages, into one transaction
//! (falling back to one by one as any batch does). The busier the consumer, the bigger the
//! batches; a quiet one still applies each answer at once.
//!
//! Order keys stay apart: a message holds its key's turn until it is settled, so no two messages
//! of one order are ever ready at once, and a batch never holds two of one key.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::prepare::Ready;
use super::{Handler, Job};

/// What a job hands the appliers: its messages ready for their transaction, when the job
/// started (for the handler-duration metric), and how to tell the job they are settled.
pub(super) struct ToApply<P> {
    pub ready: Vec<Ready<P>>,
    pub started: Instant,
    pub done: oneshot::Sender<()>,
}

pub(super) type Sender<P> = mpsc::UnboundedSender<ToApply<P>>;

/// The appliers' end: the channel, and what one applier took and had no room for (the next one
/// to lock starts with it).
pub(super) type Receiver<P> = Arc<Mutex<(mpsc::UnboundedReceiver<ToApply<P>>, Option<ToApply<P>>)>>;

pub(super) fn channel<P>() -> (Sender<P>, Receiver<P>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Arc::new(Mutex::new((rx, None))))
}

impl<H: Handler> Job<H> {
    /// Applies `ready` through the session's appliers if it has them (and they are still
    /// there), or else itself; returns once every message is settled.
    pub(super) async fn apply_prepared(&self, ready: Vec<Ready<H::Prepared>>, started: Instant) {
        let Some(appliers) = &self.appliers else {
            return self.apply_ready(ready, started).await;
        };
        let (done, applied) = oneshot::channel();
        match appliers.send(ToApply { ready, started, done }) {
            // Ok or Err (the applier dropped it, aborted at the end of a shutdown's grace):
            // either way there is nothing more to do for these messages here.
            Ok(()) => {
                let _ = applied.await;
            }
            Err(mpsc::error::SendError(back)) => self.apply_ready(back.ready, back.started).await,
        }
    }

    /// One applier: until every sender is gone, takes what is waiting (at least one job's
    /// messages, then more while there are and the batch has room) and applies it.
    pub(super) async fn applier(self, from: Receiver<H::Prepared>) {
        let max = self.inner.config.batch;
        loop {
            let mut taken = Vec::new();
            {
                let mut guard = from.lock().await;
                let (from, carried) = &mut *guard;
                let first = match carried.take() {
                    Some(first) => first,
                    None => match from.recv().await {
                        Some(first) => first,
                        None => return,
                    },
                };
                let mut messages = first.ready.len();
                taken.push(first);
                while let Ok(more) = from.try_recv() {
                    if messages + more.ready.len() > max {
                        *carried = Some(more);
                        break;
                    }
                    messages += more.ready.len();
                    taken.push(more);
                }
            }
            let started = taken.iter().map(|t| t.started).min().unwrap_or_else(Instant::now);
            let ready = taken.iter_mut().flat_map(|t| std::mem::take(&mut t.ready)).collect();
            self.apply_ready(ready, started).await;
            for handed in taken {
                let _ = handed.done.send(()); // the job may end
            }
        }
    }
}
