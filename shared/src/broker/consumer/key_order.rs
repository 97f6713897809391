//! Per-key order ([`KeyOrder`]): messages with the same order key are handled one after the
//! other, in delivery order, however many run at once. Each delivery takes a [`Turn`] when it is
//! received; it waits for the previous turn of its key, and gives its own up when dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Keeps messages with the same order key in delivery order: each waits for the previous one
/// with its key to finish.
#[derive(Default, Clone)]
pub(super) struct KeyOrder {
    /// Per key: the sequence number of the last message with that key, and its completion.
    last: Arc<Mutex<HashMap<String, LastOfKey>>>,
    next_seq: Arc<std::sync::atomic::AtomicU64>,
}

type LastOfKey = (u64, oneshot::Receiver<()>);

/// A delivery's place in its key's line: wait for `previous`, and finish by dropping `done`.
pub(super) struct Turn {
    pub(super) previous: Option<oneshot::Receiver<()>>,
    done: Option<(oneshot::Sender<()>, String, u64, KeyOrder)>,
}

impl KeyOrder {
    pub(super) fn turn(&self, key: Option<&str>) -> Turn {
        let Some(key) = key else { return Turn { previous: None, done: None } };
        let seq = self.next_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let previous = self.last.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), (seq, rx));
        Turn { previous: previous.map(|(_, rx)| rx), done: Some((tx, key.to_owned(), seq, self.clone())) }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some((tx, key, seq, order)) = self.done.take() {
            let mut last = order.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.get(&key).is_some_and(|(s, _)| *s == seq) {
                last.remove(&key);
            }
            drop(tx); // wakes the next message with this key
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_key_waits_other_keys_do_not() {
        let order = KeyOrder::default();
        let mut a1 = order.turn(Some("a"));
        let mut a2 = order.turn(Some("a"));
        let mut b1 = order.turn(Some("b"));
        let mut none = order.turn(None);
        assert!(a1.previous.take().is_none());
        assert!(b1.previous.take().is_none());
        assert!(none.previous.take().is_none());
        let mut wait = a2.previous.take().expect("a2 waits for a1");
        assert!(wait.try_recv().is_err_and(|e| e == oneshot::error::TryRecvError::Empty));
        drop(a1);
        assert!(wait.await.is_err(), "a1 finished: a2 may go");
        drop((a2, b1));
        assert!(order.last.lock().unwrap().is_empty(), "finished keys are forgotten");
    }
}
