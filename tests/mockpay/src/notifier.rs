//! Notifications (webhooks): creation, fault decisions, signed delivery and retries.
//!
//! A notification's body is serialised once and sent byte-identical on every attempt and
//! duplicate; each attempt has a fresh timestamp, nonce and signature. The receiver
//! acknowledges with HTTP 200 and `{"returnCode":"0000"}`; anything else (another status or
//! body, a connection error, no answer within `notifyTimeoutMs`) is retried after each wait of
//! `notifyRetryMs`, then given up. Faults: drop (never sent), duplicate (delivered again after
//! the first delivery ends), delay (the first attempt waits longer), reorder (held until the
//! order's next notification has been tried, so that it is overtaken).

use crate::app::App;
use crate::model::{DeliveryAttempt, DeliveryState, EventType, Notification, Payment, PaymentKey, Refund};
use crate::signing;
use crate::stats::Event;
use crate::wire::headers::{
    NONCE as HEADER_NONCE, SIGNATURE as HEADER_SIGNATURE, TIMESTAMP as HEADER_TIMESTAMP,
};
use crate::wire::notification::{NotificationBody, is_ack};
use crate::{faults::NotificationFault, ids};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A notification to create, built by the flows while they hold the ledger.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    key: PaymentKey,
    event: EventType,
    refund_id: Option<String>,
    amount: i64,
    url: Option<String>,
    at: DateTime<Utc>,
}

impl Draft {
    pub fn payment(p: &Payment, event: EventType, at: DateTime<Utc>) -> Draft {
        Draft { key: p.key.clone(), event, refund_id: None, amount: p.amount, url: p.notify_url.clone(), at }
    }

    pub fn refund(p: &Payment, r: &Refund, event: EventType, at: DateTime<Utc>) -> Draft {
        Draft {
            key: p.key.clone(),
            event,
            refund_id: Some(r.key.refund_id.clone()),
            amount: r.amount,
            url: r.notify_url.clone(),
            at,
        }
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

/// Creates the notifications and starts their delivery. Call without holding the ledger.
pub(crate) fn dispatch(app: &App, drafts: Vec<Draft>) {
    for d in drafts {
        dispatch_one(app, d);
    }
}

fn dispatch_one(app: &App, d: Draft) {
    let Some(url) = d.url.clone() else {
        return;
    };
    let mut ledger = app.ledger();
    let generation = ledger.generation;
    let Some(p) = ledger.payments.get_mut(&d.key) else {
        return;
    };
    let id = ids::notification_id();
    let body = NotificationBody {
        notification_id: id.clone(),
        event_type: d.event.as_str().to_owned(),
        merchant_id: d.key.merchant_id.clone(),
        order_id: d.key.order_id.clone(),
        transaction_id: p.transaction_id.clone(),
        refund_id: d.refund_id.clone(),
        amount: d.amount,
        currency: p.currency.clone(),
        occurred_at: crate::wire::time(d.at),
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    p.notification_ids.push(id.clone());
    let fault = app.faults().notification(&d.key.merchant_id, &d.key.order_id);
    app.stats().event(Event::NotificationCreated);

    let mut n = Notification {
        id: id.clone(),
        key: d.key.clone(),
        event_type: d.event,
        refund_id: d.refund_id,
        url,
        body,
        state: DeliveryState::Pending,
        fault: fault.map(NotificationFault::label),
        created_at: Utc::now(),
        attempts: Vec::new(),
    };
    match fault {
        Some(NotificationFault::Drop) => {
            n.state = DeliveryState::Dropped;
            ledger.notifications.insert(id, n);
            app.stats().event(Event::NotificationDropped);
            return;
        }
        Some(NotificationFault::Reorder) if !ledger.held.contains_key(&d.key) => {
            n.state = DeliveryState::Held;
            ledger.notifications.insert(id.clone(), n);
            ledger.held.insert(d.key.clone(), id.clone());
            let max_hold = Duration::from_millis(app.settings().reorder_max_hold_ms);
            drop(ledger);
            let app2 = app.clone();
            app.spawn(async move {
                if app2.sleep(max_hold).await {
                    release(&app2, &d.key, &id, generation);
                }
            });
            return;
        }
        _ => {}
    }
    // This notification overtakes the one held for the order, if any.
    let release = ledger.held.remove(&d.key);
    if let Some(held) = release.as_ref().and_then(|h| ledger.notifications.get_mut(h)) {
        held.state = DeliveryState::Pending;
    }
    ledger.notifications.insert(id.clone(), n);
    drop(ledger);
    let delay = match fault {
        Some(NotificationFault::Delay(ms)) => Duration::from_millis(ms),
        _ => Duration::ZERO,
    };
    let duplicate = fault == Some(NotificationFault::Duplicate);
    spawn_job(app, Job { id, generation, delay, duplicate, release });
}

/// Releases a held notification if it is still held (nothing overtook it in time).
fn release(app: &App, key: &PaymentKey, id: &str, generation: u64) {
    let mut ledger = app.ledger();
    if ledger.generation != generation || ledger.held.get(key).map(String::as_str) != Some(id) {
        return;
    }
    ledger.held.remove(key);
    if let Some(n) = ledger.notifications.get_mut(id) {
        n.state = DeliveryState::Pending;
    }
    drop(ledger);
    spawn_job(
        app,
        Job { id: id.to_owned(), generation, delay: Duration::ZERO, duplicate: false, release: None },
    );
}

fn spawn_job(app: &App, job: Job) {
    let fut: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(deliver(app.clone(), job));
    app.spawn(fut);
}

async fn deliver(app: App, mut job: Job) {
    if !app.sleep(job.delay).await {
        return;
    }
    send_copy(&app, &job.id, job.generation, 0, &mut job.release).await;
    if let Some(h) = job.release.take() {
        spawn_job(
            &app,
            Job { id: h, generation: job.generation, delay: Duration::ZERO, duplicate: false, release: None },
        );
    }
    if job.duplicate {
        app.stats().event(Event::NotificationDuplicated);
        send_copy(&app, &job.id, job.generation, 1, &mut None).await;
    }
}

/// Delivers one copy of a notification with retries; true if acknowledged.
async fn send_copy(app: &App, id: &str, generation: u64, copy: u32, release: &mut Option<String>) -> bool {
    let settings = app.settings();
    let timeout = Duration::from_millis(settings.notify_timeout_ms.max(1));
    let attempts = settings.notify_retry_ms.len() + 1;
    for attempt in 0..attempts {
        if attempt > 0 && !app.sleep(Duration::from_millis(settings.notify_retry_ms[attempt - 1])).await {
            return false;
        }
        let (url, body, merchant_id) = {
            let ledger = app.ledger();
            if ledger.generation != generation {
                return false;
            }
            let Some(n) = ledger.notifications.get(id) else {
                return false;
            };
            (n.url.clone(), n.body.clone(), n.key.merchant_id.clone())
        };
        let secret = app.secret(&merchant_id).unwrap_or_default();
        let timestamp = Utc::now().timestamp().to_string();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let signature =
            signing::sign(&secret, &signing::notification_message(&timestamp, &nonce, body.as_bytes()));
        let request = app
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .header(HEADER_TIMESTAMP, &timestamp)
            .header(HEADER_NONCE, &nonce)
            .header(HEADER_SIGNATURE, &signature)
            .timeout(timeout)
            .body(body);
        let exchange = async {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let text = response.text().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, text))
        };
        let result = tokio::select! {
            r = exchange => r,
            _ = app.cancel.cancelled() => return false,
        };
        let mut record = DeliveryAttempt {
            copy,
            attempt: u32::try_from(attempt + 1).unwrap_or(u32::MAX),
            at: Utc::now(),
            http_status: None,
            response_body: None,
            error: None,
            acknowledged: false,
        };
        match result {
            Ok((status, text)) => {
                record.acknowledged = is_ack(status, &text);
                record.http_status = Some(status);
                record.response_body = Some(text.chars().take(1000).collect());
            }
            Err(e) => record.error = Some(e),
        }
        let acknowledged = record.acknowledged;
        tracing::debug!(notification = id, copy, attempt = attempt + 1, acknowledged, "notification attempt");
        {
            let mut ledger = app.ledger();
            if ledger.generation != generation {
                return false;
            }
            if let Some(n) = ledger.notifications.get_mut(id) {
                n.attempts.push(record);
                if acknowledged && copy == 0 {
                    n.state = DeliveryState::Delivered;
                } else if copy == 0 && attempt + 1 == attempts {
                    n.state = DeliveryState::Failed;
                }
            }
        }
        app.stats().event(Event::NotificationAttempt);
        if let Some(h) = release.take() {
            spawn_job(app, Job { id: h, generation, delay: Duration::ZERO, duplicate: false, release: None });
        }
        if acknowledged {
            if copy == 0 {
                app.stats().event(Event::NotificationDelivered);
            }
            return true;
        }
    }
    if copy == 0 {
        app.stats().event(Event::NotificationGaveUp);
    }
    false
}
