//! What a provider's reported status means to our machines: the event a payment's or a refund's
//! status at the provider makes, one table per machine. A status with no event moves nothing
//! (the provider has no such trade: what that means depends on the call, so the caller decides).
//!
//! Whether the event then moves the order is the machine's business ([`super::payment`],
//! [`super::refund`]): these tables only name it.

use super::{PaymentEvent, RefundEvent};
use crate::providers::{PaymentStatus, RefundStatus};

/// The event each payment status at the provider makes.
pub static PAYMENT_STATUS_EVENTS: &[(PaymentStatus, Option<PaymentEvent>)] = &[
    (PaymentStatus::WaitingForCustomer, Some(PaymentEvent::ActionRequired)),
    (PaymentStatus::Processing, Some(PaymentEvent::ProviderProcessing)),
    (PaymentStatus::Authorized, Some(PaymentEvent::Authorized)),
    (PaymentStatus::Succeeded, Some(PaymentEvent::ProviderSucceeded)),
    (PaymentStatus::Failed, Some(PaymentEvent::ProviderFailed)),
    (PaymentStatus::Closed, Some(PaymentEvent::Closed)),
    (PaymentStatus::Expired, Some(PaymentEvent::Expired)),
    (PaymentStatus::NotFound, None),
];

/// The event each refund status at the provider makes.
pub static REFUND_STATUS_EVENTS: &[(RefundStatus, Option<RefundEvent>)] = &[
    (RefundStatus::Processing, Some(RefundEvent::ProviderProcessing)),
    (RefundStatus::Succeeded, Some(RefundEvent::ProviderSucceeded)),
    (RefundStatus::Failed, Some(RefundEvent::ProviderFailed)),
    (RefundStatus::NotFound, None),
];

/// The event a payment's status at the provider makes, if any ([`PAYMENT_STATUS_EVENTS`]).
pub fn payment_event(status: &PaymentStatus) -> Option<PaymentEvent> {
    lookup(PAYMENT_STATUS_EVENTS, status)
}

/// The event a refund's status at the provider makes, if any ([`REFUND_STATUS_EVENTS`]).
pub fn refund_event(status: RefundStatus) -> Option<RefundEvent> {
    lookup(REFUND_STATUS_EVENTS, &status)
}

fn lookup<S: PartialEq, E: Copy>(table: &[(S, Option<E>)], status: &S) -> Option<E> {
    table.iter().find(|(s, _)| s == status).and_then(|&(_, event)| event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payment_status_has_one_row() {
        let all = [
            PaymentStatus::WaitingForCustomer,
            PaymentStatus::Processing,
            PaymentStatus::Authorized,
            PaymentStatus::Succeeded,
            PaymentStatus::Failed,
            PaymentStatus::Closed,
            PaymentStatus::Expired,
            PaymentStatus::NotFound,
        ];
        for status in &all {
            // A new status fails to compile in the match below until it is given a row here.
            match status {
                PaymentStatus::WaitingForCustomer
                | PaymentStatus::Processing
                | PaymentStatus::Authorized
                | PaymentStatus::Succeeded
                | PaymentStatus::Failed
                | PaymentStatus::Closed
                | PaymentStatus::Expired
                | PaymentStatus::NotFound => {}
            }
            let rows = PAYMENT_STATUS_EVENTS.iter().filter(|(s, _)| s == status).count();
            assert_eq!(rows, 1, "{status:?}");
        }
        assert_eq!(PAYMENT_STATUS_EVENTS.len(), all.len());
        assert_eq!(payment_event(&PaymentStatus::Succeeded), Some(PaymentEvent::ProviderSucceeded));
        assert_eq!(payment_event(&PaymentStatus::NotFound), None);
    }

    #[test]
    fn every_refund_status_has_one_row() {
        let all =
            [RefundStatus::Processing, RefundStatus::Succeeded, RefundStatus::Failed, RefundStatus::NotFound];
        for status in all {
            match status {
                RefundStatus::Processing
                | RefundStatus::Succeeded
                | RefundStatus::Failed
                | RefundStatus::NotFound => {}
            }
            let rows = REFUND_STATUS_EVENTS.iter().filter(|(s, _)| *s == status).count();
            assert_eq!(rows, 1, "{status:?}");
        }
        assert_eq!(REFUND_STATUS_EVENTS.len(), all.len());
        assert_eq!(refund_event(RefundStatus::Failed), Some(RefundEvent::ProviderFailed));
        assert_eq!(refund_event(RefundStatus::NotFound), None);
    }
}
