//! The refund state machine: one refund of a payment, from the merchant's request to the
//! provider's outcome, through an approval when policy asks for one (seed 003).
//!
//! ## States
//! - `requested`: the refund exists and its amount is reserved in the payment's balance; not sent.
//! - `awaiting_approval`: a person must approve it before it is sent.
//! - `submitted`: the refund request **may have reached** the provider (the attempt is committed
//!   before the request leaves); no answer about it yet, so its amount stays reserved until the
//!   provider's word.
//! - `processing`: the provider accepted it and is moving the money (refunds are asynchronous).
//! - `unknown`: the refund call ended ambiguously; a query decides.
//! - `succeeded`, `failed`: the provider's definitive outcome. `rejected`: approval was denied.
//!
//! Final ([`RefundState::is_final`]): `succeeded`, `failed`, `rejected`. While a refund is not
//! final its amount is in flight in the [`PaymentBalance`](super::PaymentBalance): released on
//! `failed` or `rejected`, settled on `succeeded`.
//!
//! ## Rows, and why each exists
//! - `requested --approval_required--> awaiting_approval` and
//!   `awaiting_approval --approved--> requested`: approval happens before anything is sent; once
//!   approved the refund is back where a refund without approval starts. The history keeps the
//!   approval; policy must not ask twice.
//! - `awaiting_approval --approval_rejected--> rejected`: denied; never sent, so final at once.
//! - `requested --submitted--> submitted`: the request is about to go out, committed before it
//!   does, with the refund number as the provider's idempotency key.
//! - `unknown --submitted--> submitted`: re-sent **with the same idempotency key** after a query
//!   proved the provider has no record of it. Not a blind re-send (docs/architecture.md, 3): the query
//!   decided, and the key makes a second arrival harmless. Without this row a refund we owe the
//!   customer could never be completed after a lost request.
//! - `submitted|unknown --provider_processing--> processing`: the provider has it and is working
//!   (WeChat PROCESSING, Stripe pending).
//! - `submitted --outcome_unknown--> unknown`: the refund call ended ambiguously. Not from
//!   `processing`: once the provider has acknowledged the refund there is no ambiguity about
//!   whether it has it, and a refund query timing out moves no money and changes nothing.
//! - `submitted|processing|unknown --provider_succeeded--> succeeded` and
//!   `--provider_failed--> failed`: the definitive outcome, from the call's answer, a
//!   notification or a query.
//!
//! - `submitted --not_processed--> unknown`: the provider said it did not process this request
//!   (mockpay and LINE Pay 1145, busy with the payment; 1198, the same refund number busy), or a
//!   query found no record of a refund we submitted. Nothing settles the refund, yet a request
//!   may still be on its way, so it is `unknown` and the unknown rules follow it to an end: a
//!   query decides, a "no record" sends it again under the same key (`unknown --submitted-->`),
//!   and a refund still unknown after the last retry tier goes on the needs-attention list.
//!   Without this row such a refund stayed `submitted`, its amount reserved, and a `submitted`
//!   refund with no record at the provider was never sent again.
//! - `requested --refused--> failed`: the dispatcher re-checks the refundable amount under the
//!   payment's row lock before sending; a refund that lost the race for the remainder to another
//!   refund ends here, never sent. (Ingest's earlier check reads without the lock.)
//!
//! `provider_failed` must mean the money did not and will not move, because it releases the
//! amount for another refund. An outcome that needs a person (WeChat ABNORMAL: the refund could
//! not reach the customer's card) is not `provider_failed`: the adapter reports no event, the
//! refund stays where it is and is flagged.
//!
//! ## Already applied
//! The state already reflects the event: `approval_required` in `awaiting_approval`,
//! `approval_rejected` in `rejected`, `submitted` in `submitted`, `provider_processing` in
//! `processing`, `outcome_unknown` in `unknown`, `provider_succeeded` in `succeeded`,
//! `provider_failed` in `failed`, `not_processed` in `unknown`. Everything else not in the transitions is rejected.

use super::{Entity, TransitionError, lookup};

string_enum! {
    /// Where a refund is. The strings are the database's.
    pub enum RefundState (field = "refund_state") {
        Requested => "requested",
        AwaitingApproval => "awaiting_approval",
        Submitted => "submitted",
        Processing => "processing",
        Unknown => "unknown",
        Succeeded => "succeeded",
        Failed => "failed",
        Rejected => "rejected",
    }
}

string_enum! {
    /// What happened to a refund. The strings are the history table's.
    pub enum RefundEvent (field = "refund_event") {
        /// Policy requires a person to approve this refund.
        ApprovalRequired => "approval_required",
        /// A person approved it.
        Approved => "approved",
        /// A person denied it.
        ApprovalRejected => "approval_rejected",
        /// The refund request was sent to the provider.
        Submitted => "submitted",
        /// The provider accepted it and is moving the money.
        ProviderProcessing => "provider_processing",
        /// The refund call ended ambiguously; a query will decide.
        OutcomeUnknown => "outcome_unknown",
        /// The provider refunded the money.
        ProviderSucceeded => "provider_succeeded",
        /// The provider definitively did not refund the money.
        ProviderFailed => "provider_failed",
        /// Refused before anything was sent: under the payment's lock the amount was no longer
        /// refundable (another refund took the remainder first).
        Refused => "refused",
        /// The provider did not process the request (busy: 1145, 1198), or has no record of a
        /// submitted refund: not settled, so unknown until a query decides.
        NotProcessed => "not_processed",
    }
}

use RefundEvent as E;
use RefundState as S;

/// Every allowed transition, `(from, event, to)`. The module documentation gives each row's reason.
pub static TRANSITIONS: &[(RefundState, RefundEvent, RefundState)] = &[
    (S::Requested, E::ApprovalRequired, S::AwaitingApproval),
    (S::AwaitingApproval, E::Approved, S::Requested),
    (S::AwaitingApproval, E::ApprovalRejected, S::Rejected),
    (S::Requested, E::Submitted, S::Submitted),
    (S::Unknown, E::Submitted, S::Submitted),
    (S::Submitted, E::ProviderProcessing, S::Processing),
    (S::Unknown, E::ProviderProcessing, S::Processing),
    (S::Submitted, E::OutcomeUnknown, S::Unknown),
    (S::Submitted, E::ProviderSucceeded, S::Succeeded),
    (S::Processing, E::ProviderSucceeded, S::Succeeded),
    (S::Unknown, E::ProviderSucceeded, S::Succeeded),
    (S::Submitted, E::ProviderFailed, S::Failed),
    (S::Processing, E::ProviderFailed, S::Failed),
    (S::Unknown, E::ProviderFailed, S::Failed),
    (S::Requested, E::Refused, S::Failed),
    (S::Submitted, E::NotProcessed, S::Unknown),
];

/// `(state, event)` pairs where the state already reflects the event: a harmless repeat.
pub static ALREADY_APPLIED: &[(RefundState, RefundEvent)] = &[
    (S::AwaitingApproval, E::ApprovalRequired),
    (S::Rejected, E::ApprovalRejected),
    (S::Submitted, E::Submitted),
    (S::Processing, E::ProviderProcessing),
    (S::Unknown, E::OutcomeUnknown),
    (S::Succeeded, E::ProviderSucceeded),
    (S::Failed, E::ProviderFailed),
    (S::Failed, E::Refused),
    (S::Unknown, E::NotProcessed),
];

/// The state `event` moves `from` to, according to [`TRANSITIONS`]; otherwise an error saying
/// whether the event is already applied ([`ALREADY_APPLIED`]) or rejected. Pure.
pub fn transition(from: RefundState, event: RefundEvent) -> Result<RefundState, TransitionError> {
    lookup(TRANSITIONS, ALREADY_APPLIED, from, event).map_err(|kind| TransitionError {
        entity: Entity::Refund,
        from: from.as_str(),
        event: event.as_str(),
        kind,
    })
}

impl RefundState {
    /// [`transition`] as a method.
    pub fn apply(self, event: RefundEvent) -> Result<RefundState, TransitionError> {
        transition(self, event)
    }

    /// Nothing more will happen: `succeeded`, `failed`, `rejected`. Until then the refund's amount
    /// is in flight.
    pub const fn is_final(self) -> bool {
        matches!(self, S::Succeeded | S::Failed | S::Rejected)
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
                                rq  aa  sb  pc  un  su  fa  rj
        approval_required       aa  =   -   -   -   -   -   -
        approved                -   rq  -   -   -   -   -   -
        approval_rejected       -   rj  -   -   -   -   -   =
        submitted               sb  -   =   -   sb  -   -   -
        provider_processing     -   -   pc  =   pc  -   -   -
        outcome_unknown         -   -   un  -   =   -   -   -
        provider_succeeded      -   -   su  su  su  =   -   -
        provider_failed         -   -   fa  fa  fa  -   =   -
        refused                 fa  -   -   -   -   -   =   -
        not_processed           -   -   un  -   =   -   -   -
    ";

    fn abbreviated(s: &str) -> RefundState {
        match s {
            "rq" => S::Requested,
            "aa" => S::AwaitingApproval,
            "sb" => S::Submitted,
            "pc" => S::Processing,
            "un" => S::Unknown,
            "su" => S::Succeeded,
            "fa" => S::Failed,
            "rj" => S::Rejected,
            other => panic!("no state abbreviated {other:?}"),
        }
    }

    #[test]
    fn every_state_event_pair_matches_the_expected_grid() {
        let mut lines = EXPECTED.lines().map(str::trim).filter(|l| !l.is_empty());
        let header: Vec<RefundState> =
            lines.next().expect("header").split_whitespace().map(abbreviated).collect();
        assert_eq!(header, RefundState::ALL, "the grid's columns are every state, in order");
        let mut events = Vec::new();
        let mut checked = 0;
        for line in lines {
            let mut cells = line.split_whitespace();
            let event = RefundEvent::from_str(cells.next().expect("event")).expect("an event");
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
        assert_eq!(events, RefundEvent::ALL, "the grid's rows are every event, in order");
        assert_eq!(checked, 80);
    }

    #[test]
    fn tables_are_unambiguous() {
        table_checks::unambiguous(TRANSITIONS, ALREADY_APPLIED);
    }

    #[test]
    fn nothing_leaves_a_final_state() {
        assert!(TRANSITIONS.iter().all(|(from, _, _)| !from.is_final()));
        let finals: Vec<_> = RefundState::ALL.iter().filter(|s| s.is_final()).collect();
        assert_eq!(finals, [&S::Succeeded, &S::Failed, &S::Rejected]);
    }

    #[test]
    fn the_stored_strings() {
        let states: Vec<&str> = RefundState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            states,
            [
                "requested",
                "awaiting_approval",
                "submitted",
                "processing",
                "unknown",
                "succeeded",
                "failed",
                "rejected"
            ]
        );
        let events: Vec<&str> = RefundEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            events,
            [
                "approval_required",
                "approved",
                "approval_rejected",
                "submitted",
                "provider_processing",
                "outcome_unknown",
                "provider_succeeded",
                "provider_failed",
                "refused",
                "not_processed"
            ]
        );
        for &s in RefundState::ALL {
            assert_eq!(serde_json::to_string(&s).expect("serialises"), format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<RefundState>(&format!("\"{s}\"")).expect("parses"), s);
        }
        for &e in RefundEvent::ALL {
            assert_eq!(serde_json::from_str::<RefundEvent>(&format!("\"{e}\"")).expect("parses"), e);
        }
        assert_eq!(
            "done".parse::<RefundEvent>().map_err(|e| e.to_string()),
            Err("refund_event: must be one of approval_required, approved, approval_rejected, submitted, \
                 provider_processing, outcome_unknown, provider_succeeded, provider_failed, refused, not_processed \
                 (got \"done\")"
                .to_owned())
        );
    }

    #[test]
    fn errors_name_entity_state_and_event() {
        assert_eq!(
            transition(S::Succeeded, E::ProviderFailed).expect_err("rejected").to_string(),
            "refund: event provider_failed is not allowed in state succeeded"
        );
        assert_eq!(
            S::Failed.apply(E::ProviderFailed).expect_err("a repeat").to_string(),
            "refund: event provider_failed is already applied (state failed)"
        );
    }
}
