//! Notifications (webhooks): fault decisions, delivery with retries, and the delivery history.
//!
//! A simulator creates a notification with its body already made (serialised once, sent
//! byte-identical on every attempt and duplicate) and hands it to [`dispatch`] with its
//! [`Channel`]: the channel builds each attempt's HTTP request (signing it if its protocol signs
//! per attempt), says whether the receiver's answer acknowledges it, and gives the retry
//! schedule. Anything that does not acknowledge (another status or body, a connection error, no
//! answer within the attempt timeout) is retried after each wait of the schedule, then given up.
//!
//! Faults (drawn by [`crate::FaultState::notification`], or scripted): drop (never sent),
//! duplicate (delivered again after the first delivery ends), delay (the first attempt waits
//! longer), reorder (held until the order's next notification has been tried, or at most
//! `reorder_max_hold_ms`, so that it is overtaken).

use crate::Kit;
use crate::faults::NotificationFault;
use crate::stats::Event;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// When and how long to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Waits between attempts; the number of attempts is one more than its length.
    pub retry: Vec<Duration>,
    /// How long one attempt waits for the receiver's answer.
    pub attempt_timeout: Duration,
    /// How long a notification held back by the reorder fault waits at most.
    pub reorder_max_hold: Duration,
}

/// A simulator's notification protocol.
pub trait Channel: Clone + Send + Sync + 'static {
    /// The fault core the notifications belong to.
    fn kit(&self) -> &Kit;
    /// The schedule, read at every attempt (settings may change at run time).
    fn schedule(&self) -> Schedule;
    /// The HTTP request of one attempt (`copy` 0 for the notification, 1 for its duplicate;
    /// `attempt` 1-based). The timeout is set by the engine.
    fn request(&self, n: &Notification, copy: u32, attempt: u32) -> reqwest::RequestBuilder;
    /// Whether the receiver's answer acknowledges the notification.
    fn is_ack(&self, status: u16, body: &str) -> bool;
}

/// Where a notification's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its first attempt or between retries.
    Pending,
    /// Held back by the reorder fault until the order's next notification has been tried.
    Held,
    /// Acknowledged by the receiver.
    Delivered,
    /// Every attempt failed; given up.
    Failed,
    /// Never sent (lost by a fault).
    Dropped,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "PENDING",
            DeliveryState::Held => "HELD",
            DeliveryState::Delivered => "DELIVERED",
            DeliveryState::Failed => "FAILED",
            DeliveryState::Dropped => "DROPPED",
        }
    }
}

/// One attempt to deliver a notification and what the receiver answered.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    /// 0 for the notification, 1 for its duplicate.
    pub copy: u32,
    /// 1-based attempt number within the copy.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub http_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub acknowledged: bool,
}

/// A notification to send.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// Stable across retries and duplicates.
    pub id: String,
    pub merchant_id: String,
    pub order_id: String,
    /// The simulator's name of the event (e.g. `PAYMENT.SUCCEEDED`, `TRADE_SUCCESS`).
    pub event_type: String,
    pub refund_id: Option<String>,
    pub url: String,
    /// The exact body sent on every attempt.
    pub body: String,
    /// The body's content type.
    pub content_type: String,
}

/// A notification and its delivery history.
#[derive(Debug, Clone)]
pub struct Notification {
    pub id: String,
    pub merchant_id: String,
    pub order_id: String,
    pub event_type: String,
    pub refund_id: Option<String>,
    pub url: String,
    pub body: String,
    pub content_type: String,
    pub state: DeliveryState,
    pub fault: Option<String>,
    pub created_at: DateTime<Utc>,
    pub attempts: Vec<DeliveryAttempt>,
}

/// The notifications of a run. `generation` changes on reset, so that deliveries started before
/// it stop.
#[derive(Debug, Default)]
pub struct NotificationBook {
    pub generation: u64,
    pub notifications: HashMap<String, Notification>,
    /// The notification held back per (merchant, order) by the reorder fault.
    held: HashMap<(String, String), String>,
}

impl NotificationBook {
    /// The notifications with these ids, in that order.
    pub fn get_all(&self, ids: &[String]) -> Vec<Notification> {
        ids.iter().filter_map(|id| self.notifications.get(id)).cloned().collect()
    }

    /// Forgets everything and starts a new generation.
    pub fn reset(&mut self) {
        let generation = self.generation + 1;
        *self = NotificationBook { generation, ..NotificationBook::default() };
    }
}

/// One delivery job.
struct Job {
    id: String,
    generation: u64,
    delay: Duration,
    duplicate: bool,
    /// A held notification to release after this one's first attempt.
    release: Option<String>,
}

/// Records a new notification, draws its fault and starts its delivery. Call without holding
/// any lock of the simulator's that the channel takes.
pub fn dispatch<C: Channel>(ch: &C, new: NewNotification) {
    let kit = ch.kit();
    let fault = kit.faults().notification(&new.merchant_id, &new.order_id);
    kit.stats().event(Event::NotificationCreated);
    let key = (new.merchant_id.clone(), new.order_id.clone());
    let id = new.id.clone();
    let mut n = Notification {
        id: new.id,
        merchant_id: new.merchant_id,
        order_id: new.order_id,
        event_type: new.event_type,
        refund_id: new.refund_id,
        url: new.url,
        body: new.body,
        content_type: new.content_type,
        state: DeliveryState::Pending,
        fault: fault.map(NotificationFault::label),
        created_at: Utc::now(),
        attempts: Vec::new(),
    };
    let mut book = kit.notifications();
    let generation = book.generation;
    match fault {
        Some(NotificationFault::Drop) => {
            n.state = DeliveryState::Dropped;
            book.notifications.insert(id, n);
            drop(book);
            kit.stats().event(Event::NotificationDropped);
            return;
        }
        Some(NotificationFault::Reorder) if !book.held.contains_key(&key) => {
            n.state = DeliveryState::Held;
            book.notifications.insert(id.clone(), n);
            book.held.insert(key.clone(), id.clone());
            drop(book);
            let max_hold = ch.schedule().reorder_max_hold;
            let ch2 = ch.clone();
            kit.spawn(async move {
                if ch2.kit().sleep(max_hold).await {
                    release(&ch2, &key, &id, generation);
                }
            });
            return;
        }
        _ => {}
    }
    // This notification overtakes the one held for the order, if any.
    let release = book.held.remove(&key);
    if let Some(held) = release.as_ref().and_then(|h| book.notifications.get_mut(h)) {
        held.state = DeliveryState::Pending;
    }
    book.notifications.insert(id.clone(), n);
    drop(book);
    let delay = match fault {
        Some(NotificationFault::Delay(ms)) => Duration::from_millis(ms),
        _ => Duration::ZERO,
    };
    let duplicate = fault == Some(NotificationFault::Duplicate);
    spawn_job(ch, Job { id, generation, delay, duplicate, release });
}

/// Releases a held notification if it is still held (nothing overtook it in time).
fn release<C: Channel>(ch: &C, key: &(String, String), id: &str, generation: u64) {
    let mut book = ch.kit().notifications();
    if book.generation != generation || book.held.get(key).map(String::as_str) != Some(id) {
        return;
    }
    book.held.remove(key);
    if let Some(n) = book.notifications.get_mut(id) {
        n.state = DeliveryState::Pending;
    }
    drop(book);
    spawn_job(
        ch,
        Job { id: id.to_owned(), generation, delay: Duration::ZERO, duplicate: false, release: None },
    );
}

fn spawn_job<C: Channel>(ch: &C, job: Job) {
    let fut: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(deliver(ch.clone(), job));
    ch.kit().spawn(fut);
}

async fn deliver<C: Channel>(ch: C, mut job: Job) {
    if !ch.kit().sleep(job.delay).await {
        return;
    }
    send_copy(&ch, &job.id, job.generation, 0, &mut job.release).await;
    if let Some(h) = job.release.take() {
        spawn_job(
            &ch,
            Job { id: h, generation: job.generation, delay: Duration::ZERO, duplicate: false, release: None },
        );
    }
    if job.duplicate {
        ch.kit().stats().event(Event::NotificationDuplicated);
        send_copy(&ch, &job.id, job.generation, 1, &mut None).await;
    }
}

/// Delivers one copy of a notification with retries; true if acknowledged.
async fn send_copy<C: Channel>(
    ch: &C,
    id: &str,
    generation: u64,
    copy: u32,
    release: &mut Option<String>,
) -> bool {
    let kit = ch.kit();
    let schedule = ch.schedule();
    let timeout = schedule.attempt_timeout.max(Duration::from_millis(1));
    let attempts = schedule.retry.len() + 1;
    for attempt in 0..attempts {
        if attempt > 0 && !kit.sleep(schedule.retry[attempt - 1]).await {
            return false;
        }
        let n = {
            let book = kit.notifications();
            if book.generation != generation {
                return false;
            }
            let Some(n) = book.notifications.get(id) else {
                return false;
            };
            n.clone()
        };
        let number = u32::try_from(attempt + 1).unwrap_or(u32::MAX);
        let request = ch.request(&n, copy, number).timeout(timeout);
        let exchange = async {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let text = response.text().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, text))
        };
        let result = tokio::select! {
            r = exchange => r,
            _ = kit.cancelled() => return false,
        };
        let mut record = DeliveryAttempt {
            copy,
            attempt: number,
            at: Utc::now(),
            http_status: None,
            response_body: None,
            error: None,
            acknowledged: false,
        };
        match result {
            Ok((status, text)) => {
                record.acknowledged = ch.is_ack(status, &text);
                record.http_status = Some(status);
                record.response_body = Some(text.chars().take(1000).collect());
            }
            Err(e) => record.error = Some(e),
        }
        let acknowledged = record.acknowledged;
        tracing::debug!(notification = id, copy, attempt = attempt + 1, acknowledged, "notification attempt");
        {
            let mut book = kit.notifications();
            if book.generation != generation {
                return false;
            }
            if let Some(n) = book.notifications.get_mut(id) {
                n.attempts.push(record);
                if acknowledged && copy == 0 {
                    n.state = DeliveryState::Delivered;
                } else if copy == 0 && attempt + 1 == attempts {
                    n.state = DeliveryState::Failed;
                }
            }
        }
        kit.stats().event(Event::NotificationAttempt);
        if let Some(h) = release.take() {
            spawn_job(ch, Job { id: h, generation, delay: Duration::ZERO, duplicate: false, release: None });
        }
        if acknowledged {
            if copy == 0 {
                kit.stats().event(Event::NotificationDelivered);
            }
            return true;
        }
    }
    if copy == 0 {
        kit.stats().event(Event::NotificationGaveUp);
    }
    false
}

/// A notification and every delivery attempt with the receiver's answer (admin API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationTruth {
    pub notification_id: String,
    pub event_type: String,
    pub refund_id: Option<String>,
    pub url: String,
    /// PENDING, HELD, DELIVERED, FAILED or DROPPED.
    pub state: String,
    /// The injected fault, if any: `drop`, `duplicate`, `delay <n>ms`, `reorder`.
    pub fault: Option<String>,
    pub created_at: String,
    /// The exact body sent.
    pub body: String,
    pub attempts: Vec<AttemptTruth>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptTruth {
    /// 0 for the notification, 1 for its duplicate.
    pub copy: u32,
    /// 1-based within the copy.
    pub attempt: u32,
    pub at: String,
    pub http_status: Option<u16>,
    /// The receiver's answer (first 1000 characters).
    pub response_body: Option<String>,
    /// A transport error (connection refused, timeout, ...).
    pub error: Option<String>,
    pub acknowledged: bool,
}

impl From<&Notification> for NotificationTruth {
    fn from(n: &Notification) -> Self {
        use crate::time;
        NotificationTruth {
            notification_id: n.id.clone(),
            event_type: n.event_type.clone(),
            refund_id: n.refund_id.clone(),
            url: n.url.clone(),
            state: n.state.as_str().to_owned(),
            fault: n.fault.clone(),
            created_at: time(n.created_at),
            body: n.body.clone(),
            attempts: n
                .attempts
                .iter()
                .map(|a| AttemptTruth {
                    copy: a.copy,
                    attempt: a.attempt,
                    at: time(a.at),
                    http_status: a.http_status,
                    response_body: a.response_body.clone(),
                    error: a.error.clone(),
                    acknowledged: a.acknowledged,
                })
                .collect(),
        }
    }
}

/// Waits `d` at `scale` parts per million of real time (for schedules written in real time,
/// such as Alipay's minutes and hours, run fast in tests).
pub fn scaled(d: Duration, scale_ppm: u64) -> Duration {
    let ms = u128::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)) * u128::from(scale_ppm) / 1_000_000;
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}
