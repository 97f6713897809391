//! The refundable balance of a payment: how much was captured, how much is refunded, and how much
//! is reserved by refunds still in flight. It is what stops a payment being refunded twice.
//!
//! `refundable = captured - refunded - in_flight`, and `refunded + in_flight <= captured` always
//! holds: every operation checks before it changes anything, with checked arithmetic, and an
//! operation that fails leaves the balance as it was.
//!
//! The lifecycle, driven by the refund machine ([`RefundState`](super::RefundState)):
//! - a refund is requested: [`reserve`](PaymentBalance::reserve) its amount, refused if it exceeds
//!   what is refundable (this is the check a refund command fails with);
//! - it fails or approval is rejected: [`release`](PaymentBalance::release) the amount;
//! - it succeeds: [`settle`](PaymentBalance::settle) moves the amount from in flight to refunded
//!   and answers which payment event follows: `refund_succeeded_full` when nothing remains,
//!   otherwise `refund_succeeded_partial`.
//!
//! Reserving at request time (not at success) is deliberate: two refunds racing for the same
//! remainder cannot both be sent, so the provider never sees more than was captured.

use std::fmt;

use super::PaymentEvent;
use crate::domain::{Currency, Money, MoneyError, ValidationError};

/// A payment's captured, refunded and in-flight amounts, all in the payment's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentBalance {
    captured: Money,
    refunded: Money,
    in_flight: Money,
}

/// Why a balance operation was refused. Display is `<field>: <rule>` like [`ValidationError`],
/// into which it converts for API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BalanceError {
    /// The amount is in another currency than the payment.
    CurrencyMismatch { expected: Currency, got: Currency },
    /// A refund of zero.
    NotPositive { amount: Money },
    /// A refund request for more than is left to refund.
    ExceedsRefundable { requested: Money, refundable: Money },
    /// A release or settle for more than is in flight: a bug or a duplicate, never applied.
    ExceedsInFlight { amount: Money, in_flight: Money },
    /// Stored parts that break `refunded + in_flight <= captured`.
    Inconsistent { captured: Money, refunded: Money, in_flight: Money },
    /// Arithmetic that cannot happen while the invariant holds, reported rather than assumed.
    Arithmetic(MoneyError),
}

impl BalanceError {
    /// The field the error is about: `amount`, or `balance` for [`BalanceError::Inconsistent`].
    pub const fn field(&self) -> &'static str {
        match self {
            BalanceError::Inconsistent { .. } => "balance",
            _ => "amount",
        }
    }

    /// What is wrong, in words a user understands.
    pub fn rule(&self) -> String {
        match self {
            BalanceError::CurrencyMismatch { expected, got } => {
                format!("must be in the payment's currency {expected} (got {got})")
            }
            BalanceError::NotPositive { amount } => format!("a refund must be more than zero (got {amount})"),
            BalanceError::ExceedsRefundable { requested, refundable } => {
                format!("refund of {requested} exceeds the refundable {refundable}")
            }
            BalanceError::ExceedsInFlight { amount, in_flight } => {
                format!("{amount} exceeds the {in_flight} in flight")
            }
            BalanceError::Inconsistent { captured, refunded, in_flight } => {
                format!("refunded {refunded} plus in flight {in_flight} exceed the captured {captured}")
            }
            BalanceError::Arithmetic(e) => e.to_string(),
        }
    }
}

impl fmt::Display for BalanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.rule())
    }
}

impl From<MoneyError> for BalanceError {
    fn from(e: MoneyError) -> Self {
        BalanceError::Arithmetic(e)
    }
}

impl From<BalanceError> for ValidationError {
    fn from(e: BalanceError) -> Self {
        ValidationError::new(e.field(), e.rule())
    }
}

impl PaymentBalance {
    /// A payment that captured `captured`, nothing refunded or in flight.
    pub const fn new(captured: Money) -> Self {
        let zero = Money::zero(captured.currency());
        PaymentBalance { captured, refunded: zero, in_flight: zero }
    }

    /// From stored parts; refused unless all are in one currency and
    /// `refunded + in_flight <= captured`.
    pub fn from_parts(captured: Money, refunded: Money, in_flight: Money) -> Result<Self, BalanceError> {
        let balance = PaymentBalance::new(captured);
        balance.same_currency(refunded)?;
        balance.same_currency(in_flight)?;
        let inconsistent = BalanceError::Inconsistent { captured, refunded, in_flight };
        let used = refunded.checked_add(in_flight).map_err(|_| inconsistent)?;
        captured.checked_sub(used).map_err(|_| inconsistent)?;
        Ok(PaymentBalance { captured, refunded, in_flight })
    }

    pub const fn captured(&self) -> Money {
        self.captured
    }

    pub const fn refunded(&self) -> Money {
        self.refunded
    }

    pub const fn in_flight(&self) -> Money {
        self.in_flight
    }

    pub const fn currency(&self) -> Currency {
        self.captured.currency()
    }

    /// What a new refund may still take: captured - refunded - in flight.
    pub fn refundable(&self) -> Money {
        // Cannot fail while the invariant holds; if it ever did, zero refuses every refund
        // (fail closed) rather than allowing one.
        self.remaining().unwrap_or(Money::zero(self.currency()))
    }

    /// Everything captured has been refunded.
    pub fn is_fully_refunded(&self) -> bool {
        self.refunded == self.captured
    }

    /// Reserves `amount` for a requested refund. Refused if it is zero, in another currency, or
    /// more than [`refundable`](Self::refundable).
    pub fn reserve(&mut self, amount: Money) -> Result<(), BalanceError> {
        self.check_amount(amount)?;
        let refundable = self.remaining()?;
        if amount.minor_units() > refundable.minor_units() {
            return Err(BalanceError::ExceedsRefundable { requested: amount, refundable });
        }
        self.in_flight = self.in_flight.checked_add(amount)?;
        Ok(())
    }

    /// Returns `amount` from in flight to refundable: its refund failed or was rejected.
    pub fn release(&mut self, amount: Money) -> Result<(), BalanceError> {
        self.check_in_flight(amount)?;
        self.in_flight = self.in_flight.checked_sub(amount)?;
        Ok(())
    }

    /// Moves `amount` from in flight to refunded: its refund succeeded. Answers the payment event
    /// that follows: [`PaymentEvent::RefundSucceededFull`] when nothing captured remains,
    /// otherwise [`PaymentEvent::RefundSucceededPartial`].
    pub fn settle(&mut self, amount: Money) -> Result<PaymentEvent, BalanceError> {
        self.check_in_flight(amount)?;
        let in_flight = self.in_flight.checked_sub(amount)?;
        let refunded = self.refunded.checked_add(amount)?;
        (self.in_flight, self.refunded) = (in_flight, refunded);
        Ok(if self.is_fully_refunded() {
            PaymentEvent::RefundSucceededFull
        } else {
            PaymentEvent::RefundSucceededPartial
        })
    }

    fn remaining(&self) -> Result<Money, MoneyError> {
        self.captured.checked_sub(self.refunded)?.checked_sub(self.in_flight)
    }

    fn same_currency(&self, amount: Money) -> Result<(), BalanceError> {
        if amount.currency() == self.currency() {
            Ok(())
        } else {
            Err(BalanceError::CurrencyMismatch { expected: self.currency(), got: amount.currency() })
        }
    }

    fn check_amount(&self, amount: Money) -> Result<(), BalanceError> {
        self.same_currency(amount)?;
        if amount.is_zero() {
            return Err(BalanceError::NotPositive { amount });
        }
        Ok(())
    }

    fn check_in_flight(&self, amount: Money) -> Result<(), BalanceError> {
        self.check_amount(amount)?;
        if amount.minor_units() > self.in_flight.minor_units() {
            return Err(BalanceError::ExceedsInFlight { amount, in_flight: self.in_flight });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::state_machine::{PaymentState, RefundEvent, RefundState, payment, refund};

    fn cny(minor: i64) -> Money {
        Money::from_minor(minor, Currency::CNY).expect("valid")
    }

    #[test]
    fn reserve_release_settle() {
        let mut b = PaymentBalance::new(cny(10_000));
        assert_eq!(b.refundable(), cny(10_000));
        b.reserve(cny(3_000)).expect("fits");
        b.reserve(cny(7_000)).expect("fits exactly");
        assert_eq!(b.refundable(), cny(0));
        let before = b;
        assert_eq!(
            b.reserve(cny(1)).map_err(|e| e.to_string()),
            Err("amount: refund of 0.01 CNY exceeds the refundable 0.00 CNY".to_owned())
        );
        assert_eq!(b, before, "a refused reserve changes nothing");
        b.release(cny(7_000)).expect("in flight");
        assert_eq!(b.refundable(), cny(7_000));
        assert_eq!(b.settle(cny(3_000)), Ok(PaymentEvent::RefundSucceededPartial));
        assert_eq!((b.refunded(), b.in_flight(), b.refundable()), (cny(3_000), cny(0), cny(7_000)));
        b.reserve(cny(7_000)).expect("the rest");
        assert_eq!(b.settle(cny(7_000)), Ok(PaymentEvent::RefundSucceededFull));
        assert!(b.is_fully_refunded());
        assert_eq!(b.refundable(), cny(0));
    }

    #[test]
    fn refusals_name_the_rule_and_change_nothing() {
        let mut b = PaymentBalance::new(cny(5_000));
        b.reserve(cny(1_000)).expect("fits");
        let usd = Money::from_minor(100, Currency::USD).expect("valid");
        let before = b;
        let cases: [(Result<(), BalanceError>, &str); 6] = [
            (b.reserve(cny(4_001)), "amount: refund of 40.01 CNY exceeds the refundable 40.00 CNY"),
            (b.reserve(usd), "amount: must be in the payment's currency CNY (got USD)"),
            (b.reserve(cny(0)), "amount: a refund must be more than zero (got 0.00 CNY)"),
            (b.release(cny(1_001)), "amount: 10.01 CNY exceeds the 10.00 CNY in flight"),
            (b.settle(cny(1_001)).map(|_| ()), "amount: 10.01 CNY exceeds the 10.00 CNY in flight"),
            (b.settle(usd).map(|_| ()), "amount: must be in the payment's currency CNY (got USD)"),
        ];
        for (result, message) in cases {
            assert_eq!(result.map_err(|e| e.to_string()), Err(message.to_owned()));
        }
        assert_eq!(b, before);
        let as_validation = ValidationError::from(BalanceError::NotPositive { amount: cny(0) });
        assert_eq!(
            (as_validation.field(), as_validation.rule()),
            ("amount", "a refund must be more than zero (got 0.00 CNY)")
        );
    }

    #[test]
    fn from_parts_checks_the_invariant() {
        assert_eq!(
            PaymentBalance::from_parts(cny(100), cny(60), cny(40)).map(|b| b.refundable()),
            Ok(cny(0))
        );
        assert_eq!(
            PaymentBalance::from_parts(cny(100), cny(60), cny(41)).map_err(|e| e.to_string()),
            Err("balance: refunded 0.60 CNY plus in flight 0.41 CNY exceed the captured 1.00 CNY".to_owned())
        );
        assert!(PaymentBalance::from_parts(cny(100), cny(i64::MAX), cny(1)).is_err());
        let jpy = Money::from_minor(1, Currency::JPY).expect("valid");
        assert_eq!(
            PaymentBalance::from_parts(cny(100), jpy, cny(0)).map_err(|e| e.to_string()),
            Err("amount: must be in the payment's currency CNY (got JPY)".to_owned())
        );
    }

    // ---- The aggregate model: a payment, its balance and its refunds, driven by random events.

    /// One payment as the dispatcher would hold it.
    #[derive(Debug, Clone, PartialEq)]
    struct Model {
        amount: Money,
        payment: PaymentState,
        /// Exists once the payment succeeded.
        balance: Option<PaymentBalance>,
        refunds: Vec<(RefundState, Money)>,
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// A payment event from the provider or the scheduler (refund events on the payment come
        /// only from settling a refund, as in the real flow).
        Payment(PaymentEvent),
        /// A refund command for this many minor units.
        RequestRefund(i64),
        /// A refund command for exactly what is left.
        RequestRemainder,
        /// An event for the refund at this index (modulo the number of refunds).
        Refund(usize, RefundEvent),
    }

    impl Model {
        fn new(amount: i64) -> Self {
            Model { amount: cny(amount), payment: PaymentState::Created, balance: None, refunds: Vec::new() }
        }

        /// Applies `op` the way the dispatcher would. `Err` means refused; the test checks that a
        /// refusal left everything as it was. A broken internal expectation panics.
        fn apply(&mut self, op: &Op) -> Result<(), String> {
            match *op {
                Op::Payment(event) => {
                    let to = payment::transition(self.payment, event).map_err(|e| e.to_string())?;
                    if to == PaymentState::Succeeded && self.balance.is_none() {
                        self.balance = Some(PaymentBalance::new(self.amount));
                    }
                    self.payment = to;
                }
                Op::RequestRefund(minor) => self.request(cny(minor))?,
                Op::RequestRemainder => {
                    let rest = self.balance.as_ref().ok_or("not paid")?.refundable();
                    self.request(rest)?;
                }
                Op::Refund(index, event) => {
                    if self.refunds.is_empty() {
                        return Err("no refunds".to_owned());
                    }
                    let index = index % self.refunds.len();
                    let (state, amount) = self.refunds[index];
                    let to = refund::transition(state, event).map_err(|e| e.to_string())?;
                    let balance = self.balance.as_mut().expect("a refund exists only for a paid payment");
                    match to {
                        RefundState::Succeeded => {
                            let payment_event =
                                balance.settle(amount).expect("a refund's amount is in flight");
                            self.payment = payment::transition(self.payment, payment_event)
                                .expect("a settled refund always moves a refundable payment");
                        }
                        RefundState::Failed | RefundState::Rejected => {
                            balance.release(amount).expect("a refund's amount is in flight");
                        }
                        _ => {}
                    }
                    self.refunds[index].0 = to;
                }
            }
            Ok(())
        }

        fn request(&mut self, amount: Money) -> Result<(), String> {
            if !self.payment.is_refundable() {
                return Err(format!("payment is {}", self.payment));
            }
            let balance = self.balance.as_mut().expect("a refundable payment has a balance");
            balance.reserve(amount).map_err(|e| e.to_string())?;
            self.refunds.push((RefundState::Requested, amount));
            Ok(())
        }

        fn sum(&self, which: impl Fn(RefundState) -> bool) -> i64 {
            self.refunds.iter().filter(|(s, _)| which(*s)).map(|(_, m)| m.minor_units()).sum()
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        let flow_events: Vec<PaymentEvent> = PaymentEvent::ALL
            .iter()
            .copied()
            .filter(|e| {
                !matches!(e, PaymentEvent::RefundSucceededPartial | PaymentEvent::RefundSucceededFull)
            })
            .collect();
        prop_oneof![
            3 => proptest::sample::select(flow_events).prop_map(Op::Payment),
            2 => (1_i64..=6_000).prop_map(Op::RequestRefund),
            1 => Just(Op::RequestRemainder),
            6 => (0_usize..8, proptest::sample::select(RefundEvent::ALL)).prop_map(|(i, e)| Op::Refund(i, e)),
        ]
    }

    proptest! {
        #[test]
        fn random_event_sequences_keep_the_money_invariants(
            amount in 1_i64..=10_000,
            ops in proptest::collection::vec(op(), 1..80),
        ) {
            let mut model = Model::new(amount);
            for op in &ops {
                let before = model.clone();
                let result = model.apply(op);

                // (b) A refused event leaves everything unchanged.
                if result.is_err() {
                    prop_assert_eq!(&model, &before, "{:?} was refused but changed the model", op);
                }

                // (a) Nothing leaves a final payment state except paid after close, and failed and
                // refunded never change.
                if before.payment != model.payment && before.payment.is_final() {
                    prop_assert!(
                        matches!(before.payment, PaymentState::Closed | PaymentState::Expired)
                            && model.payment == PaymentState::Succeeded,
                        "{:?} left the final state {}", op, before.payment
                    );
                }
                // Refunds never leave a final state either.
                for ((was, _), (now, _)) in before.refunds.iter().zip(&model.refunds) {
                    prop_assert!(!was.is_final() || was == now, "refund left {} for {}", was, now);
                }

                let succeeded = model.sum(|s| s == RefundState::Succeeded);
                let in_flight = model.sum(|s| !s.is_final());
                match model.balance {
                    None => prop_assert!(model.refunds.is_empty()),
                    Some(balance) => {
                        let captured = balance.captured().minor_units();
                        prop_assert_eq!(captured, amount);
                        // (c) The balance agrees with the refunds themselves, and never exceeds
                        // what was captured.
                        prop_assert_eq!(balance.refunded().minor_units(), succeeded);
                        prop_assert_eq!(balance.in_flight().minor_units(), in_flight);
                        prop_assert!(succeeded + in_flight <= captured);
                        prop_assert_eq!(balance.refundable().minor_units(), captured - succeeded - in_flight);
                        // (d) Refunded exactly when everything captured was refunded.
                        prop_assert_eq!(model.payment == PaymentState::Refunded, succeeded == captured);
                        prop_assert_eq!(
                            model.payment == PaymentState::PartiallyRefunded,
                            succeeded > 0 && succeeded < captured
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_story_two_partial_refunds_one_failure_then_the_rest() {
        let mut m = Model::new(10_000);
        let ops = [
            Op::Payment(PaymentEvent::Submitted),
            Op::Payment(PaymentEvent::ActionRequired),
            Op::Payment(PaymentEvent::ProviderSucceeded),
            Op::RequestRefund(3_000),
            Op::RequestRefund(8_000), // refused: only 70.00 left
            Op::RequestRefund(5_000),
            Op::Refund(0, RefundEvent::Submitted),
            Op::Refund(0, RefundEvent::ProviderSucceeded),
            Op::Refund(1, RefundEvent::Submitted),
            Op::Refund(1, RefundEvent::ProviderFailed),
            Op::RequestRemainder,
            Op::Refund(2, RefundEvent::ApprovalRequired),
            Op::Refund(2, RefundEvent::Approved),
            Op::Refund(2, RefundEvent::Submitted),
            Op::Refund(2, RefundEvent::OutcomeUnknown),
            Op::Refund(2, RefundEvent::ProviderProcessing),
            Op::Refund(2, RefundEvent::ProviderSucceeded),
            Op::Payment(PaymentEvent::ProviderSucceeded), // a late duplicate notification
        ];
        let results: Vec<bool> = ops.iter().map(|op| m.apply(op).is_ok()).collect();
        let refused: Vec<usize> =
            results.iter().enumerate().filter(|(_, ok)| !**ok).map(|(i, _)| i).collect();
        assert_eq!(refused, [4, 17]);
        assert_eq!(m.payment, PaymentState::Refunded);
        let balance = m.balance.expect("paid");
        assert_eq!((balance.refunded(), balance.in_flight()), (cny(10_000), cny(0)));
        assert_eq!(
            m.refunds,
            [
                (RefundState::Succeeded, cny(3_000)),
                (RefundState::Failed, cny(5_000)),
                (RefundState::Succeeded, cny(7_000))
            ]
        );
    }

    #[test]
    fn a_refund_of_an_authorisation_is_refused_and_a_capture_opens_only_what_it_took() {
        // Authorised: not refundable, and nothing captured to refund.
        for state in [PaymentState::Authorized, PaymentState::Capturing, PaymentState::Voiding] {
            assert!(!state.is_refundable(), "{state}");
        }
        let mut nothing = PaymentBalance::new(cny(0));
        assert_eq!(
            nothing.reserve(cny(1)).map_err(|e| e.to_string()),
            Err("amount: refund of 0.01 CNY exceeds the refundable 0.00 CNY".to_owned())
        );
        // Captured 60.00 of an authorised 100.00: refunds apply to the 60.00.
        let captured = payment::transition(PaymentState::Capturing, PaymentEvent::ProviderSucceeded)
            .expect("the capture succeeded");
        assert!(captured.is_refundable());
        let mut b = PaymentBalance::new(cny(6_000));
        assert!(b.reserve(cny(6_001)).is_err(), "not the authorised amount");
        b.reserve(cny(6_000)).expect("all of what was captured");
        assert_eq!(b.settle(cny(6_000)), Ok(PaymentEvent::RefundSucceededFull));
    }

    #[test]
    fn paid_after_close_opens_refunds() {
        let mut m = Model::new(500);
        for op in [
            Op::Payment(PaymentEvent::Submitted),
            Op::Payment(PaymentEvent::OutcomeUnknown),
            Op::Payment(PaymentEvent::Closed),
        ] {
            m.apply(&op).expect("allowed");
        }
        assert!(m.apply(&Op::RequestRefund(1)).is_err(), "a closed payment has nothing to refund");
        m.apply(&Op::Payment(PaymentEvent::ProviderSucceeded)).expect("paid after close");
        m.apply(&Op::RequestRemainder).expect("the customer can be refunded");
        assert_eq!(m.balance.map(|b| b.in_flight()), Some(cny(500)));
    }
}
