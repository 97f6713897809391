//! The payment state machine: one merchant order's payment, from creation to its money outcome
//! and refunds.
//!
//! ## States
//! - `created`: the row exists, nothing sent yet (pre-commit: it exists before any provider call).
//! - `pending`: the pay request **may have reached** the provider: the attempt is committed before
//!   the request leaves, so from here on only the provider can say the payment did not happen
//!   (docs/architecture.md, "May have been sent"). No outcome yet, and the customer has nothing
//!   to do.
//! - `action_required`: the customer must act on a URL, form or QR code (or we must confirm, as
//!   LINE Pay requires after the redirect).
//! - `unknown`: a money-moving call ended ambiguously (timeout, 5xx, broken connection). We never
//!   re-send blindly; a query decides (docs/architecture.md, 3).
//! - `succeeded`: the money moved. `partially_refunded`, `refunded`: after refunds.
//! - `failed`: the provider definitively refused the payment.
//! - `closed`: closed without payment, confirmed by the provider or never sent.
//! - `expired`: timed out without payment, reported by the provider or never sent.
//! - `authorized`: the provider holds the customer's money for us (a pay asked for manual
//!   capture) and has taken none of it. Only a `capture` takes it, only a `void` (or the
//!   provider's authorisation expiry) releases it. Nothing is refundable yet.
//! - `capturing`: a capture request **may have reached** the provider (committed before it
//!   left, like `pending` for a pay); the provider's word decides.
//! - `voiding`: a void (release of the authorisation) may have reached the provider.
//! - `voided`: the authorisation was released without any capture: by our void, or by the
//!   provider at its expiry. No money moved.
//!
//! Final ([`PaymentState::is_final`]): `failed`, `closed`, `expired`, `refunded`, `voided`. Refundable
//! ([`PaymentState::is_refundable`]): `succeeded`, `partially_refunded`.
//!
//! ## Rows, and why each exists
//! - `created --submitted--> pending`: the request is about to go out, committed before it does.
//!   Every later state passes through here, so the history always shows the request before its
//!   answer (no `created -> succeeded`).
//! - `pending --action_required--> action_required`: the provider answered with something for the
//!   customer to act on.
//! - `unknown --action_required--> action_required`: a query found the trade waiting for the
//!   customer (Alipay WAIT_BUYER_PAY, WeChat NOTPAY / USERPAYING, LINE Pay check 0000).
//! - `action_required|unknown --provider_processing--> pending`: the provider has the payment and
//!   is working on it; the customer has nothing more to do (Stripe `processing`, Alipay 10003, LINE
//!   Pay 1145), or, from `unknown`, a query proved the provider has the request.
//! - `pending|action_required --outcome_unknown--> unknown`: a money-moving call ended ambiguously.
//!   From `action_required` this is LINE Pay's confirm or Stripe's confirm timing out. A query that
//!   times out is not this event: it moves no money and changes nothing.
//! - `pending|action_required|unknown --provider_succeeded--> succeeded`: the provider proved the
//!   money moved (verified notification, query, confirm answer).
//! - `closed|expired --provider_succeeded--> succeeded`: **paid after close**, the only way out of
//!   a final state. The customer paid in the race with our close or timeout and the provider
//!   proves it. Money truth wins: we record the payment (and can refund it) rather than pretend it
//!   did not happen. The order is flagged paid_after_close elsewhere; this machine does not know
//!   the previous state once it has moved, so the caller records it with the history row.
//!   `failed` has no such row: it is entered only on a definitive refusal, so a success after it
//!   is a contradiction between two provider answers, for a person to resolve.
//! - `pending|action_required|unknown --provider_failed--> failed`: a definitive refusal.
//! - `created|pending|action_required|unknown --closed--> closed` and the same four
//!   `--expired--> expired`: from `created` no request can have left (its attempt would have
//!   moved the payment to `pending` first), so we may decide alone;
//!   from the other three the provider must have confirmed the close or reported the expiry (a
//!   query, its close call succeeding), because only the provider knows the payment did not
//!   happen. Closing is how an `unknown` order ends when the query finds no payment.
//! - `succeeded|partially_refunded --refund_succeeded_partial--> partially_refunded` and
//!   `--refund_succeeded_full--> refunded`: a refund succeeded and the [`PaymentBalance`] says
//!   whether anything is left. The self-loop on `partially_refunded` is the second, third, ...
//!   partial refund, each a real event for the history.
//!
//! - `pending|action_required|unknown --authorized--> authorized`: the provider answered a pay
//!   that asked for manual capture (or a query found it) with a hold on the customer's money.
//! - `authorized --capture_submitted--> capturing` and `authorized --void_submitted--> voiding`:
//!   the capture or void is about to go out, committed before it does (the dispatcher's
//!   `work/capture.rs`, `work/void.rs`; only they, on a `capture` or `void` command or the
//!   scheduler's authorisation expiry, move an authorised payment).
//! - `capturing|voiding|authorized --provider_succeeded--> succeeded`: the capture took the money
//!   (from `authorized` and `voiding`: a query or notification found it captured; money truth
//!   wins, as for paid after close).
//! - `capturing|voiding --authorized--> authorized`: the provider still holds the authorisation
//!   uncaptured: it refused the capture (an amount above the authorised one) or the void, or a
//!   query after an ambiguous answer found nothing done.
//! - `authorized|capturing|voiding --closed--> voided` and `--expired--> voided`: the provider
//!   released the authorisation (our void, or its own expiry: Stripe cancels an uncaptured
//!   PaymentIntent after 7 days). A capture and a void are never repeated blindly: an ambiguous
//!   answer leaves `capturing` or `voiding` (where `outcome_unknown` is already applied) and a
//!   query decides.
//!
//! ## Already applied
//! The state already reflects the event: `submitted` or `provider_processing` in `pending`,
//! `action_required` in `action_required`, `outcome_unknown` in `unknown`, `provider_succeeded` in
//! `succeeded`, `partially_refunded` or `refunded` (a duplicate success notification after
//! refunds), `provider_failed` in `failed`, and `closed` or `expired` in `closed` or `expired` (a
//! provider may call an unpaid timeout either), `authorized` in `authorized`, `capture_submitted`
//! and `outcome_unknown` in `capturing`, `void_submitted` and `outcome_unknown` in `voiding`,
//! `closed` and `expired` in `voided`. Refund events are never repeats: each is a distinct
//! refund, deduplicated by the refund's own machine and the balance.
//!
//! [`PaymentBalance`]: super::PaymentBalance

use super::{Entity, TransitionError, lookup};

string_enum! {
    /// Where a payment is. The strings are the database's.
    pub enum PaymentState (field = "payment_state") {
        Created => "created",
        Pending => "pending",
        ActionRequired => "action_required",
        Unknown => "unknown",
        Succeeded => "succeeded",
        Failed => "failed",
        Closed => "closed",
        Expired => "expired",
        PartiallyRefunded => "partially_refunded",
        Refunded => "refunded",
        Authorized => "authorized",
        Capturing => "capturing",
        Voiding => "voiding",
        Voided => "voided",
    }
}

string_enum! {
    /// What happened to a payment. The strings are the history table's.
    pub enum PaymentEvent (field = "payment_event") {
        /// The pay request was sent to the provider.
        Submitted => "submitted",
        /// The provider has the payment and is working on it; nothing for the customer to do.
        ProviderProcessing => "provider_processing",
        /// The customer (or we, to confirm) must act on a URL, form or QR code.
        ActionRequired => "action_required",
        /// A money-moving call ended ambiguously; a query will decide.
        OutcomeUnknown => "outcome_unknown",
        /// The provider proved the money moved.
        ProviderSucceeded => "provider_succeeded",
        /// The provider definitively refused the payment.
        ProviderFailed => "provider_failed",
        /// Closed without payment: confirmed by the provider, or never sent.
        Closed => "closed",
        /// Timed out without payment: reported by the provider, or never sent.
        Expired => "expired",
        /// A refund succeeded and some of the payment remains.
        RefundSucceededPartial => "refund_succeeded_partial",
        /// A refund succeeded and nothing of the payment remains.
        RefundSucceededFull => "refund_succeeded_full",
        /// The provider holds the customer's money, uncaptured (manual capture).
        Authorized => "authorized",
        /// A capture of the authorisation was sent to the provider.
        CaptureSubmitted => "capture_submitted",
        /// A void (release) of the authorisation was sent to the provider.
        VoidSubmitted => "void_submitted",
    }
}

use PaymentEvent as E;
use PaymentState as S;

/// Every allowed transition, `(from, event, to)`. The module documentation gives each row's reason.
pub static TRANSITIONS: &[(PaymentState, PaymentEvent, PaymentState)] = &[
    (S::Created, E::Submitted, S::Pending),
    (S::Pending, E::ActionRequired, S::ActionRequired),
    (S::Unknown, E::ActionRequired, S::ActionRequired),
    (S::ActionRequired, E::ProviderProcessing, S::Pending),
    (S::Unknown, E::ProviderProcessing, S::Pending),
    (S::Pending, E::OutcomeUnknown, S::Unknown),
    (S::ActionRequired, E::OutcomeUnknown, S::Unknown),
    (S::Pending, E::ProviderSucceeded, S::Succeeded),
    (S::ActionRequired, E::ProviderSucceeded, S::Succeeded),
    (S::Unknown, E::ProviderSucceeded, S::Succeeded),
    // Paid after close: the only way out of a final state.
    (S::Closed, E::ProviderSucceeded, S::Succeeded),
    (S::Expired, E::ProviderSucceeded, S::Succeeded),
    (S::Pending, E::ProviderFailed, S::Failed),
    (S::ActionRequired, E::ProviderFailed, S::Failed),
    (S::Unknown, E::ProviderFailed, S::Failed),
    (S::Created, E::Closed, S::Closed),
    (S::Pending, E::Closed, S::Closed),
    (S::ActionRequired, E::Closed, S::Closed),
    (S::Unknown, E::Closed, S::Closed),
    (S::Created, E::Expired, S::Expired),
    (S::Pending, E::Expired, S::Expired),
    (S::ActionRequired, E::Expired, S::Expired),
    (S::Unknown, E::Expired, S::Expired),
    (S::Succeeded, E::RefundSucceededPartial, S::PartiallyRefunded),
    (S::PartiallyRefunded, E::RefundSucceededPartial, S::PartiallyRefunded),
    (S::Succeeded, E::RefundSucceededFull, S::Refunded),
    (S::PartiallyRefunded, E::RefundSucceededFull, S::Refunded),
    // Manual capture.
    (S::Pending, E::Authorized, S::Authorized),
    (S::ActionRequired, E::Authorized, S::Authorized),
    (S::Unknown, E::Authorized, S::Authorized),
    (S::Authorized, E::CaptureSubmitted, S::Capturing),
    (S::Authorized, E::VoidSubmitted, S::Voiding),
    (S::Capturing, E::ProviderSucceeded, S::Succeeded),
    (S::Voiding, E::ProviderSucceeded, S::Succeeded),
    (S::Authorized, E::ProviderSucceeded, S::Succeeded),
    (S::Capturing, E::Authorized, S::Authorized),
    (S::Voiding, E::Authorized, S::Authorized),
    (S::Authorized, E::Closed, S::Voided),
    (S::Capturing, E::Closed, S::Voided),
    (S::Voiding, E::Closed, S::Voided),
    (S::Authorized, E::Expired, S::Voided),
    (S::Capturing, E::Expired, S::Voided),
    (S::Voiding, E::Expired, S::Voided),
];

/// `(state, event)` pairs where the state already reflects the event: a harmless repeat.
pub static ALREADY_APPLIED: &[(PaymentState, PaymentEvent)] = &[
    (S::Pending, E::Submitted),
    (S::Pending, E::ProviderProcessing),
    (S::ActionRequired, E::ActionRequired),
    (S::Unknown, E::OutcomeUnknown),
    (S::Succeeded, E::ProviderSucceeded),
    (S::PartiallyRefunded, E::ProviderSucceeded),
    (S::Refunded, E::ProviderSucceeded),
    (S::Failed, E::ProviderFailed),
    (S::Closed, E::Closed),
    (S::Expired, E::Closed),
    (S::Closed, E::Expired),
    (S::Expired, E::Expired),
    (S::Authorized, E::Authorized),
    (S::Capturing, E::CaptureSubmitted),
    (S::Capturing, E::OutcomeUnknown),
    (S::Voiding, E::VoidSubmitted),
    (S::Voiding, E::OutcomeUnknown),
    (S::Voided, E::Closed),
    (S::Voided, E::Expired),
];

/// The state `event` moves `from` to, according to [`TRANSITIONS`]; otherwise an error saying
/// whether the event is already applied ([`ALREADY_APPLIED`]) or rejected. Pure.
pub fn transition(from: PaymentState, event: PaymentEvent) -> Result<PaymentState, TransitionError> {
    lookup(TRANSITIONS, ALREADY_APPLIED, from, event).map_err(|kind| TransitionError {
        entity: Entity::Payment,
        from: from.as_str(),
        event: event.as_str(),
        kind,
    })
}

impl PaymentState {
    /// [`transition`] as a method.
    pub fn apply(self, event: PaymentEvent) -> Result<PaymentState, TransitionError> {
        transition(self, event)
    }

    /// No further flow is expected: `failed`, `closed`, `expired`, `refunded`, `voided`.
    /// (`closed` and `expired` can still take the paid-after-close event.)
    pub const fn is_final(self) -> bool {
        matches!(self, S::Failed | S::Closed | S::Expired | S::Refunded | S::Voided)
    }

    /// The provider holds an authorisation of ours, or a capture or void of it may be on its way:
    /// `authorized`, `capturing`, `voiding`. Nothing of it is refundable.
    pub const fn holds_an_authorisation(self) -> bool {
        matches!(self, S::Authorized | S::Capturing | S::Voiding)
    }

    /// Money was captured and some of it can still be refunded: `succeeded`, `partially_refunded`.
    pub const fn is_refundable(self) -> bool {
        matches!(self, S::Succeeded | S::PartiallyRefunded)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::state_machine::{TransitionErrorKind, table_checks};

    /// The expected machine, written independently of [`TRANSITIONS`]: one row per event, one
    /// column per state. A cell is the target state, `=` for already applied, `-` for rejected.
    const EXPECTED: &str = "
                                cr  pe  ar  un  su  fa  cl  ex  pr  rf  au  ca  vo  vd
        submitted               pe  =   -   -   -   -   -   -   -   -   -   -   -   -
        provider_processing     -   =   pe  pe  -   -   -   -   -   -   -   -   -   -
        action_required         -   ar  =   ar  -   -   -   -   -   -   -   -   -   -
        outcome_unknown         -   un  un  =   -   -   -   -   -   -   -   =   =   -
        provider_succeeded      -   su  su  su  =   -   su  su  =   =   su  su  su  -
        provider_failed         -   fa  fa  fa  -   =   -   -   -   -   -   -   -   -
        closed                  cl  cl  cl  cl  -   -   =   =   -   -   vd  vd  vd  =
        expired                 ex  ex  ex  ex  -   -   =   =   -   -   vd  vd  vd  =
        refund_succeeded_partial -  -   -   -   pr  -   -   -   pr  -   -   -   -   -
        refund_succeeded_full   -   -   -   -   rf  -   -   -   rf  -   -   -   -   -
        authorized              -   au  au  au  -   -   -   -   -   -   =   au  au  -
        capture_submitted       -   -   -   -   -   -   -   -   -   -   ca  =   -   -
        void_submitted          -   -   -   -   -   -   -   -   -   -   vo  -   =   -
    ";

    fn abbreviated(s: &str) -> PaymentState {
        match s {
            "cr" => S::Created,
            "pe" => S::Pending,
            "ar" => S::ActionRequired,
            "un" => S::Unknown,
            "su" => S::Succeeded,
            "fa" => S::Failed,
            "cl" => S::Closed,
            "ex" => S::Expired,
            "pr" => S::PartiallyRefunded,
            "rf" => S::Refunded,
            "au" => S::Authorized,
            "ca" => S::Capturing,
            "vo" => S::Voiding,
            "vd" => S::Voided,
            other => panic!("no state abbreviated {other:?}"),
        }
    }

    #[test]
    fn every_state_event_pair_matches_the_expected_grid() {
        let mut lines = EXPECTED.lines().map(str::trim).filter(|l| !l.is_empty());
        let header: Vec<PaymentState> =
            lines.next().expect("header").split_whitespace().map(abbreviated).collect();
        assert_eq!(header, PaymentState::ALL, "the grid's columns are every state, in order");
        let mut events = Vec::new();
        let mut checked = 0;
        for line in lines {
            let mut cells = line.split_whitespace();
            let event = PaymentEvent::from_str(cells.next().expect("event")).expect("an event");
            events.push(event);
            let cells: Vec<&str> = cells.collect();
            assert_eq!(cells.len(), header.len(), "row {event}");
            for (&from, &cell) in header.iter().zip(&cells) {
                let expected = match cell {
                    "-" => Err(TransitionErrorKind::Rejected),
                    "=" => Err(TransitionErrorKind::AlreadyApplied),
                    to => Ok(abbreviated(to)),
                };
                assert_eq!(transition(from, event).map_err(|e| e.kind), expected, "{from} --{event}-->");
                checked += 1;
            }
        }
        assert_eq!(events, PaymentEvent::ALL, "the grid's rows are every event, in order");
        assert_eq!(checked, 14 * 13);
    }

    #[test]
    fn tables_are_unambiguous() {
        table_checks::unambiguous(TRANSITIONS, ALREADY_APPLIED);
    }

    #[test]
    fn only_paid_after_close_leaves_a_final_state() {
        let exits: Vec<_> = TRANSITIONS.iter().filter(|(from, _, _)| from.is_final()).collect();
        assert_eq!(
            exits,
            [
                &(S::Closed, E::ProviderSucceeded, S::Succeeded),
                &(S::Expired, E::ProviderSucceeded, S::Succeeded)
            ]
        );
    }

    #[test]
    fn the_stored_strings() {
        let states: Vec<&str> = PaymentState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            states,
            [
                "created",
                "pending",
                "action_required",
                "unknown",
                "succeeded",
                "failed",
                "closed",
                "expired",
                "partially_refunded",
                "refunded",
                "authorized",
                "capturing",
                "voiding",
                "voided"
            ]
        );
        let events: Vec<&str> = PaymentEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            events,
            [
                "submitted",
                "provider_processing",
                "action_required",
                "outcome_unknown",
                "provider_succeeded",
                "provider_failed",
                "closed",
                "expired",
                "refund_succeeded_partial",
                "refund_succeeded_full",
                "authorized",
                "capture_submitted",
                "void_submitted"
            ]
        );
        for &s in PaymentState::ALL {
            assert_eq!(serde_json::to_string(&s).expect("serialises"), format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<PaymentState>(&format!("\"{s}\"")).expect("parses"), s);
            assert_eq!(s.as_str().parse::<PaymentState>(), Ok(s));
        }
        for &e in PaymentEvent::ALL {
            assert_eq!(serde_json::to_string(&e).expect("serialises"), format!("\"{e}\""));
            assert_eq!(e.as_str().parse::<PaymentEvent>(), Ok(e));
        }
        assert_eq!(
            "Succeeded".parse::<PaymentState>().map_err(|e| e.to_string()),
            Err("payment_state: must be one of created, pending, action_required, unknown, succeeded, failed, \
                 closed, expired, partially_refunded, refunded, authorized, capturing, voiding, voided (got \"Succeeded\")"
                .to_owned())
        );
    }

    #[test]
    fn errors_name_entity_state_and_event() {
        let rejected = transition(S::Succeeded, E::ProviderFailed).expect_err("rejected");
        assert_eq!(rejected.to_string(), "payment: event provider_failed is not allowed in state succeeded");
        assert!(!rejected.is_already_applied());
        let repeat = S::Succeeded.apply(E::ProviderSucceeded).expect_err("a repeat");
        assert_eq!(
            repeat.to_string(),
            "payment: event provider_succeeded is already applied (state succeeded)"
        );
        assert!(repeat.is_already_applied());
    }

    #[test]
    fn final_and_refundable() {
        let finals: Vec<_> = PaymentState::ALL.iter().filter(|s| s.is_final()).collect();
        assert_eq!(finals, [&S::Failed, &S::Closed, &S::Expired, &S::Refunded, &S::Voided]);
        let refundable: Vec<_> = PaymentState::ALL.iter().filter(|s| s.is_refundable()).collect();
        assert_eq!(refundable, [&S::Succeeded, &S::PartiallyRefunded]);
    }
}
