//! What a run sends, decided up front from the seed: each payment's amount and how it is paid,
//! and which payments get refunds of which pattern.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How a payment is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// A POS one-time key: charged at once (or declined).
    Direct,
    /// A QR code the customer pays once it is shown.
    QrPaid,
    /// A QR code nobody pays; upstream closes the payment once it is shown.
    QrClosed,
}

/// The refunds sent once a payment succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundPattern {
    /// One refund of the whole amount.
    Full,
    /// One refund of two fifths.
    Partial,
    /// Two refunds of half (and the rest) at once: both fit.
    SplitPair,
    /// Two refunds of three fifths each at once: only one fits.
    OverPair,
}

impl RefundPattern {
    const CYCLE: [RefundPattern; 4] = [Self::Full, Self::Partial, Self::SplitPair, Self::OverPair];

    /// The amounts of this pattern's refunds for a payment of `amount` minor units.
    pub fn amounts(self, amount: i64) -> Vec<i64> {
        match self {
            Self::Full => vec![amount],
            Self::Partial => vec![(amount * 2 / 5).max(1)],
            Self::SplitPair => vec![amount / 2, amount - amount / 2],
            Self::OverPair => vec![(amount * 3 / 5).max(1), (amount * 3 / 5).max(1)],
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlannedPayment {
    pub merchant_order_no: String,
    /// CNY fen.
    pub amount: i64,
    pub path: Path,
    pub refunds: Option<RefundPattern>,
}

/// Every payment of a run, in sending order.
pub fn plan(run: &str, payments: u64, refunds: u64, seed: u64) -> Vec<PlannedPayment> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out: Vec<PlannedPayment> = (0..payments)
        .map(|i| {
            let roll = rng.random_range(0..100);
            let path = match roll {
                0..80 => Path::Direct,
                80..90 => Path::QrPaid,
                _ => Path::QrClosed,
            };
            PlannedPayment {
                merchant_order_no: format!("chaos-{run}-{i:06}"),
                amount: rng.random_range(1_000..100_000),
                path,
                refunds: None,
            }
        })
        .collect();
    // Refund patterns go round-robin over paid payments spread evenly through the run. Some of
    // those payments will not succeed (declined, closed after a timeout that charged nothing), so
    // patterns are planned for 8/5 of `refunds`; the load stops sending at `refunds`
    // ([`crate::load::Sent::reserve_refunds`]).
    let paid: Vec<usize> = (0..out.len()).filter(|&i| out[i].path != Path::QrClosed).collect();
    let mut planned = 0u64;
    let wanted = refunds.saturating_mul(8) / 5;
    // The cycle sends 1.5 refunds per payment on average: step = paid × 1.5 / wanted, rounded.
    let wanted_2 = wanted.max(1).saturating_mul(2);
    let step = usize::try_from((paid.len() as u64 * 3 + wanted_2 / 2) / wanted_2).unwrap_or(1).max(1);
    for (cycle, &i) in paid.iter().step_by(step).enumerate() {
        if planned >= wanted {
            break;
        }
        let pattern = RefundPattern::CYCLE[cycle % RefundPattern::CYCLE.len()];
        planned += pattern.amounts(out[i].amount).len() as u64;
        out[i].refunds = Some(pattern);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refunds_are_planned_beyond_the_number_wanted_and_through_the_whole_run() {
        let plan = plan("t", 10_000, 3_000, 1);
        let refunds: u64 =
            plan.iter().filter_map(|p| p.refunds.map(|r| r.amounts(p.amount).len() as u64)).sum();
        assert!(refunds >= 4_500, "room for payments that do not succeed: {refunds} planned");
        let last = plan.iter().rposition(|p| p.refunds.is_some()).unwrap();
        assert!(last >= 9_000, "the last payment with refunds is number {last}: the run's end gets none");
    }
}
