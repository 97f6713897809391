//! The deliveries each consumer holds, and how long it has held the oldest:
//! `paygate_consumer_oldest_delivery_age_seconds{consumer, queue}`, the signal of the alert
//! `PaygateWorkQueueOldestMessageTooOld` (deploy/prometheus/alerts.yml).
//!
//! RabbitMQ reports no head-message age for quorum queues, so the consumer measures it: each
//! session keeps an [`InHand`], the time it took each delivery (by delivery tag) until the
//! delivery is settled (acknowledged, requeued, rejected or given back). A delivery counts from
//! when the consumer takes it off the channel to work on it (a slot is free): waiting for its
//! order's turn, being prepared and handled, held while the database is unreachable. Messages
//! still in the broker's prefetch window, or ready in the queue, are on the queue-depth panels.
//!
//! [`InHandAges`] is a Prometheus collector: at each scrape it reads every live session's
//! oldest delivery (0 when a session holds none), the largest per consumer and queue. A session
//! that has ended reports nothing, so a consumer that stopped leaves no stale age behind.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use super::metrics::QueueLabels;

/// One session's deliveries in hand: when each was taken, by delivery tag.
#[derive(Debug, Default)]
pub struct InHand {
    taken: Mutex<BTreeMap<u64, Instant>>,
}

impl InHand {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Instant>> {
        self.taken.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The consumer took these deliveries now.
    pub fn took(&self, tags: impl IntoIterator<Item = u64>) {
        let now = Instant::now();
        self.lock().extend(tags.into_iter().map(|tag| (tag, now)));
    }

    /// The delivery is settled (or given back): no longer in hand.
    pub fn settled(&self, tag: u64) {
        self.lock().remove(&tag);
    }

    /// How long ago the oldest delivery in hand was taken; `None` when none is.
    pub fn oldest(&self) -> Option<Duration> {
        self.lock().values().min().map(Instant::elapsed)
    }
}

/// Every live session's [`InHand`], by consumer and queue; the collector of
/// `consumer_oldest_delivery_age_seconds`. Cheap to clone: clones share the sessions.
#[derive(Debug, Clone, Default)]
pub struct InHandAges {
    sessions: Arc<Mutex<Vec<Session>>>,
}

/// A session's consumer and queue, and its tracker while it lives.
type Session = (QueueLabels, Weak<InHand>);

impl InHandAges {
    /// A new session's tracker for `consumer` on `queue`; it is measured for as long as it lives.
    pub fn session(&self, consumer: &str, queue: &str) -> Arc<InHand> {
        let in_hand = Arc::new(InHand::default());
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|(_, session)| session.strong_count() > 0);
        let labels = QueueLabels { consumer: consumer.to_owned(), queue: queue.to_owned() };
        sessions.push((labels, Arc::downgrade(&in_hand)));
        in_hand
    }

    /// Per consumer and queue with a live session: the oldest delivery in hand's age (zero when
    /// none is held).
    pub fn ages(&self) -> BTreeMap<(String, String), Duration> {
        let sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ages = BTreeMap::new();
        for (labels, session) in sessions.iter() {
            let Some(session) = session.upgrade() else { continue };
            let age = session.oldest().unwrap_or_default();
            let entry = ages.entry((labels.consumer.clone(), labels.queue.clone())).or_insert(age);
            *entry = (*entry).max(age);
        }
        ages
    }
}

impl Collector for InHandAges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let ages = self.ages();
        let mut family = encoder.encode_descriptor(
            "consumer_oldest_delivery_age_seconds",
            "How long ago the consumer took the oldest delivery it still holds unacknowledged, 0 when it holds none",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for ((consumer, queue), age) in ages {
            let labels = QueueLabels { consumer, queue };
            ConstGauge::new(age.as_secs_f64()).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn the_oldest_delivery_in_hand_is_measured_until_it_is_settled() {
        let ages = InHandAges::default();
        let session = ages.session("c", "q");
        assert_eq!(session.oldest(), None);
        session.took([1, 2]);
        session.took([3]);
        assert!(session.oldest().is_some());
        session.settled(1);
        session.settled(2);
        session.settled(3);
        assert_eq!(session.oldest(), None, "everything settled");
        let key = ("c".to_owned(), "q".to_owned());
        assert_eq!(ages.ages().get(&key), Some(&Duration::ZERO), "a live session holding nothing is 0");
        drop(session);
        assert!(ages.ages().is_empty(), "an ended session reports nothing");
    }

    #[test]
    fn the_collector_encodes_one_series_per_consumer_and_queue_with_the_prefix() {
        let mut registry = Registry::with_prefix("paygate");
        let ages = InHandAges::default();
        registry.register_collector(Box::new(ages.clone()));
        let a = ages.session("ingest", "paygate.commands.ingest");
        let b = ages.session("ingest", "paygate.commands.ingest");
        a.took([7]);
        b.took([1]);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("# TYPE paygate_consumer_oldest_delivery_age_seconds gauge"), "{text}");
        let series = r#"paygate_consumer_oldest_delivery_age_seconds{consumer="ingest",queue="paygate.commands.ingest"} "#;
        assert_eq!(text.matches(series).count(), 1, "two sessions, one series: {text}");
    }
}
