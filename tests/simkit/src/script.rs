//! Scripted per-order faults: "the next N calls of this operation for this order get this fault".
//!
//! Deterministic tests script faults instead of relying on rates. An entry names an order, an
//! operation and a fault, and is consumed by the next matching calls. Each fault has a class
//! that says at which point of the flow it is taken: a transport fault when the API call
//! arrives, a charge fault when money is taken (a `direct` pay, or the customer paying a
//! WAITING payment), a refund fate when a refund is created, a notification fault when a
//! notification is created.
//!
//! The faults are named generically; each simulator says what they look like on its wire (e.g.
//! mockpay's `http_500` is HTTP 500 with returnCode 9000, alipaysim's is `20000`).

use serde::{Deserialize, Serialize};

/// An operation a fault can be scripted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Creating a payment, and the moment a waiting payment is paid.
    Pay,
    /// Querying a payment.
    Query,
    /// Creating a refund.
    Refund,
    /// Querying a refund (matched on the refund's order id).
    RefundQuery,
    /// Closing an unpaid payment.
    Close,
    /// Cancelling (reversing) a payment, paid or not (Alipay's `alipay.trade.cancel`; mockpay has
    /// no such call and refuses scripts for it).
    Cancel,
    /// Capturing an authorised payment (mockpay, stripesim).
    Capture,
    /// Voiding (releasing) an authorised payment (mockpay, stripesim).
    Void,
    /// A notification about the order.
    Notify,
}

impl Operation {
    /// The name used on the wire and in statistics.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Pay => "pay",
            Operation::Query => "query",
            Operation::Refund => "refund",
            Operation::RefundQuery => "refund_query",
            Operation::Close => "close",
            Operation::Cancel => "cancel",
            Operation::Capture => "capture",
            Operation::Void => "void",
            Operation::Notify => "notify",
        }
    }
}

/// A scripted fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The request is not processed; the response is held for `timeoutHoldMs`, then the
    /// connection is dropped.
    Timeout,
    /// The request is not processed; the provider's "system error" (HTTP 500).
    #[serde(rename = "http_500")]
    Http500,
    /// The request is not processed; the provider's signature error, as for a bad signature or
    /// a clock out of step: a definitive refusal of this request.
    HeaderError,
    /// The request is not processed; "no such transaction", as from a provider whose records
    /// lag behind its charges (a payment just made is not yet visible to queries).
    NotFound,
    /// The request is not processed; "payment in process" (try again later).
    InProcess,
    /// The charge is declined (`declineCode`, default the provider's "insufficient funds").
    Decline,
    /// The request IS processed and committed, then the response is held and dropped.
    LostResponse,
    /// The refund stays processing until completed through the admin API.
    ProcessingForever,
    /// The refund ends FAILED.
    RefundFail,
    /// The notification is never sent.
    DropNotification,
    /// The notification is delivered twice (the second delivery after the first one ends).
    DuplicateNotification,
    /// The notification's first attempt is delayed by this many milliseconds.
    DelayNotificationMs(u64),
}

/// Where in the flow a fault is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    Transport,
    Charge,
    RefundFate,
    Notification,
}

impl Fault {
    pub fn class(self) -> FaultClass {
        match self {
            Fault::Timeout
            | Fault::Http500
            | Fault::HeaderError
            | Fault::NotFound
            | Fault::InProcess
            | Fault::LostResponse => FaultClass::Transport,
            Fault::Decline => FaultClass::Charge,
            Fault::ProcessingForever | Fault::RefundFail => FaultClass::RefundFate,
            Fault::DropNotification | Fault::DuplicateNotification | Fault::DelayNotificationMs(_) => {
                FaultClass::Notification
            }
        }
    }
}

fn one() -> u32 {
    1
}

/// One scripted fault (`POST /admin/script`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptEntry {
    /// The merchant's order id the fault applies to (any merchant).
    pub order_id: String,
    /// The operation it applies to.
    pub operation: Operation,
    /// The fault.
    pub fault: Fault,
    /// How many matching calls get it (default 1).
    #[serde(default = "one")]
    pub times: u32,
    /// For `decline`: the provider's decline code (default its "insufficient funds"); each
    /// simulator checks the codes it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
}

impl ScriptEntry {
    /// A fault for the next call.
    pub fn new(order_id: impl Into<String>, operation: Operation, fault: Fault) -> Self {
        ScriptEntry { order_id: order_id.into(), operation, fault, times: 1, decline_code: None }
    }

    /// The same fault for the next `times` calls.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Checks that the fault makes sense for the operation; `decline_code` checks a
    /// `declineCode` against the simulator's codes (the message says which are allowed).
    pub fn validate(&self, decline_code: impl Fn(&str) -> Result<(), String>) -> Result<(), String> {
        if self.order_id.is_empty() {
            return Err("orderId must not be empty".into());
        }
        if self.times == 0 {
            return Err("times must be at least 1".into());
        }
        let ok = match self.fault.class() {
            FaultClass::Transport => self.operation != Operation::Notify,
            FaultClass::Charge => self.operation == Operation::Pay,
            FaultClass::RefundFate => self.operation == Operation::Refund,
            FaultClass::Notification => self.operation == Operation::Notify,
        };
        if !ok {
            return Err(format!(
                "fault {:?} does not apply to operation {}",
                self.fault,
                self.operation.as_str()
            ));
        }
        if let Some(code) = &self.decline_code {
            if self.fault != Fault::Decline {
                return Err("declineCode is only for the decline fault".into());
            }
            decline_code(code)?;
        }
        Ok(())
    }
}

/// The pending scripted faults.
#[derive(Debug, Default)]
pub struct ScriptBook {
    entries: Vec<ScriptEntry>,
}

impl ScriptBook {
    pub fn push(&mut self, entry: ScriptEntry) {
        self.entries.push(entry);
    }

    /// Consumes one use of the oldest entry for this order, operation and class.
    pub fn take(&mut self, order_id: &str, operation: Operation, class: FaultClass) -> Option<ScriptEntry> {
        let i = self
            .entries
            .iter()
            .position(|e| e.order_id == order_id && e.operation == operation && e.fault.class() == class)?;
        let entry = &mut self.entries[i];
        entry.times -= 1;
        let taken = ScriptEntry { times: 1, ..entry.clone() };
        if entry.times == 0 {
            self.entries.remove(i);
        }
        Some(taken)
    }

    pub fn pending(&self) -> Vec<ScriptEntry> {
        self.entries.clone()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names() {
        let e: ScriptEntry = serde_json::from_str(
            r#"{"orderId":"o1","operation":"refund_query","fault":"http_500","times":2}"#,
        )
        .unwrap();
        assert_eq!(e.operation, Operation::RefundQuery);
        assert_eq!(e.fault, Fault::Http500);
        let e: ScriptEntry = serde_json::from_str(
            r#"{"orderId":"o1","operation":"notify","fault":{"delay_notification_ms":500}}"#,
        )
        .unwrap();
        assert_eq!(e.fault, Fault::DelayNotificationMs(500));
        assert_eq!(e.times, 1);
        assert!(e.validate(|_| Ok(())).is_ok());
        assert!(ScriptEntry::new("o", Operation::Query, Fault::Decline).validate(|_| Ok(())).is_err());
    }

    #[test]
    fn take_consumes_by_class_in_order() {
        let mut b = ScriptBook::default();
        b.push(ScriptEntry::new("o", Operation::Pay, Fault::Decline));
        b.push(ScriptEntry::new("o", Operation::Pay, Fault::Timeout).times(2));
        assert_eq!(b.take("o", Operation::Pay, FaultClass::Transport).unwrap().fault, Fault::Timeout);
        assert_eq!(b.take("o", Operation::Pay, FaultClass::Transport).unwrap().fault, Fault::Timeout);
        assert!(b.take("o", Operation::Pay, FaultClass::Transport).is_none());
        assert!(b.take("x", Operation::Pay, FaultClass::Charge).is_none());
        assert_eq!(b.take("o", Operation::Pay, FaultClass::Charge).unwrap().fault, Fault::Decline);
        assert!(b.pending().is_empty());
    }
}
