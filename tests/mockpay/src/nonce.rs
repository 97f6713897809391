//! A bounded memory of recently used request nonces, to refuse replays within the timestamp window.
//!
//! A nonce needs remembering only while a request carrying it could still pass the timestamp
//! check, so each entry expires at `timestamp + tolerance`. The set is also bounded: when it is
//! full the oldest entry is forgotten first.

use std::collections::{HashSet, VecDeque};

pub(crate) struct NonceCache {
    capacity: usize,
    seen: HashSet<(String, String)>,
    /// (expires at, merchant, nonce) in insertion order.
    order: VecDeque<(i64, String, String)>,
}

impl NonceCache {
    pub fn new(capacity: usize) -> Self {
        NonceCache { capacity: capacity.max(1), seen: HashSet::new(), order: VecDeque::new() }
    }

    /// Records the nonce; false if it was already used (and is still remembered).
    pub fn insert(&mut self, merchant_id: &str, nonce: &str, expires_at: i64, now: i64) -> bool {
        while let Some((exp, _, _)) = self.order.front() {
            if *exp < now || self.order.len() >= self.capacity {
                if let Some((_, m, n)) = self.order.pop_front() {
                    self.seen.remove(&(m, n));
                }
            } else {
                break;
            }
        }
        let key = (merchant_id.to_owned(), nonce.to_owned());
        if self.seen.contains(&key) {
            return false;
        }
        self.seen.insert(key);
        self.order.push_back((expires_at, merchant_id.to_owned(), nonce.to_owned()));
        true
    }

    pub fn clear(&mut self) {
        self.seen.clear();
        self.order.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_reused_nonce_per_merchant() {
        let mut c = NonceCache::new(10);
        assert!(c.insert("m1", "a", 100, 0));
        assert!(!c.insert("m1", "a", 100, 1));
        assert!(c.insert("m2", "a", 100, 1));
    }

    #[test]
    fn forgets_expired_entries_and_stays_bounded() {
        let mut c = NonceCache::new(3);
        assert!(c.insert("m", "a", 10, 0));
        assert!(c.insert("m", "a2", 50, 0));
        assert!(c.insert("m", "b", 11, 20), "expired entries are dropped first");
        assert_eq!(c.len(), 2);
        for i in 0..10 {
            assert!(c.insert("m", &format!("x{i}"), 1000, 20));
        }
        assert!(c.len() <= 3);
    }
}
