//! The simulator's books: PaymentIntents and Refunds, in integer minor units, as Stripe's API
//! reference describes their state machines.
//!
//! PaymentIntent: `requires_payment_method` → (confirm with a payment method) `succeeded`, or
//! `processing` → `succeeded`, or `requires_action` (3-D Secure) → `succeeded` /
//! back to `requires_payment_method` (a failed authentication), or back to
//! `requires_payment_method` with `last_payment_error` (a decline); `canceled` from any state
//! but `succeeded` and `processing`. With `capture_method=manual` a successful confirmation stops
//! at `requires_capture` (nothing charged): a capture (`amount_to_capture`, the rest released)
//! makes it `succeeded`, a cancel `canceled`, and the authorisation expiry (Stripe: 7 days;
//! `authorizationExpiryMs`) cancels it with `cancellation_reason: automatic`. Refund: `pending` → `succeeded` / `failed` / `canceled`.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// A PaymentIntent's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Succeeded,
    Canceled,
}

impl PiStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PiStatus::RequiresPaymentMethod => "requires_payment_method",
            PiStatus::RequiresConfirmation => "requires_confirmation",
            PiStatus::RequiresAction => "requires_action",
            PiStatus::Processing => "processing",
            PiStatus::RequiresCapture => "requires_capture",
            PiStatus::Succeeded => "succeeded",
            PiStatus::Canceled => "canceled",
        }
    }
}

/// The last failed attempt.
#[derive(Debug, Clone)]
pub struct PaymentError {
    pub code: String,
    pub decline_code: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub client_secret: String,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub status: PiStatus,
    pub payment_method: Option<String>,
    pub last_payment_error: Option<PaymentError>,
    pub redirect_url: Option<String>,
    /// Where the 3-D Secure page sends the customer back (`return_url` of the confirm).
    pub return_url: Option<String>,
    pub created: i64,
    /// When the search index last saw it (for the search lag).
    pub changed: Instant,
    /// How many times money was taken (0 or 1).
    pub charges: u32,
    pub refunds: Vec<String>,
    pub events: Vec<String>,
    pub cancellation_reason: Option<String>,
    /// When the charge succeeded (Unix seconds), once it has.
    pub charged_at: Option<i64>,
    /// `capture_method=manual`: a confirmation only authorises.
    pub capture_manual: bool,
    /// What was captured (the amount for an automatic capture), once succeeded.
    pub amount_received: i64,
}

impl PaymentIntent {
    pub fn trade_no(&self) -> &str {
        self.metadata.get("trade_no").map_or("", String::as_str)
    }

    pub fn json(&self) -> Value {
        let next_action = match (&self.status, &self.redirect_url) {
            (PiStatus::RequiresAction, Some(url)) => json!({
                "type": "redirect_to_url",
                "redirect_to_url": { "url": url, "return_url": self.return_url },
            }),
            _ => Value::Null,
        };
        let last_payment_error = self.last_payment_error.as_ref().map_or(Value::Null, |e| {
            json!({ "type": "card_error", "code": e.code, "decline_code": e.decline_code, "message": e.message })
        });
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_received": if self.status == PiStatus::Succeeded { self.amount_received } else { 0 },
            "amount_capturable": if self.status == PiStatus::RequiresCapture { self.amount } else { 0 },
            "capture_method": if self.capture_manual { "manual" } else { "automatic" },
            "cancellation_reason": self.cancellation_reason,
            "client_secret": self.client_secret,
            "created": self.created,
            "currency": self.currency,
            "description": self.description,
            "last_payment_error": last_payment_error,
            "livemode": false,
            "metadata": self.metadata,
            "next_action": next_action,
            "payment_method": self.payment_method,
            "status": self.status.as_str(),
        })
    }
}

/// A Refund's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
    Canceled,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
            RefundStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed, Self::Canceled].into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
    pub currency: String,
    pub metadata: BTreeMap<String, String>,
    pub status: RefundStatus,
    pub failure_reason: Option<String>,
    pub created: i64,
}

impl Refund {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "created": self.created,
            "currency": self.currency,
            "failure_reason": self.failure_reason,
            "metadata": self.metadata,
            "payment_intent": self.payment_intent,
            "reason": null,
            "status": self.status.as_str(),
        })
    }

    pub fn refund_no(&self) -> &str {
        self.metadata.get("refund_no").map_or("", String::as_str)
    }
}

/// A stored idempotent answer: the request it answered and what it said.
#[derive(Debug, Clone)]
pub struct Saved {
    pub endpoint: String,
    pub params: Vec<(String, String)>,
    pub status: u16,
    pub body: String,
}

/// Everything the simulator holds.
#[derive(Debug, Default)]
pub struct Ledger {
    pub intents: HashMap<String, PaymentIntent>,
    pub refunds: HashMap<String, Refund>,
    pub idempotency: HashMap<String, Saved>,
    next: u64,
}

impl Ledger {
    /// A new object id with Stripe's prefix (`pi`, `re`, `evt`).
    pub fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        let noise = uuid::Uuid::new_v4().simple().to_string();
        format!("{prefix}_3Sim{:06}{}", self.next, &noise[..14])
    }

    pub fn reset(&mut self) {
        *self = Ledger::default();
    }

    /// The PaymentIntent carrying our trade number `trade_no` (the admin side's handle).
    pub fn by_trade_no(&self, trade_no: &str) -> Option<&PaymentIntent> {
        self.intents.values().find(|p| p.trade_no() == trade_no)
    }

    pub fn refund_by_no(&self, refund_no: &str) -> Option<&Refund> {
        self.refunds.values().find(|r| r.refund_no() == refund_no)
    }

    /// What has been refunded or is being refunded of a PaymentIntent.
    pub fn refunds_held(&self, pi: &str) -> i64 {
        self.refunds
            .values()
            .filter(|r| {
                r.payment_intent == pi && matches!(r.status, RefundStatus::Pending | RefundStatus::Succeeded)
            })
            .map(|r| r.amount)
            .sum()
    }
}
