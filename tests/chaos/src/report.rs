//! The run's report: what was sent, the faults injected, the kills and restarts, the time to
//! settle, and every check with its count and (up to a few) examples.

use crate::havoc::Done;
use crate::load::Sent;
use crate::options::Options;
use crate::verdict::Verdict;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

pub struct Report {
    pub options: Options,
    pub sent: Arc<Sent>,
    pub havoc: Done,
    pub loaded_in: Duration,
    /// How long everything took to settle once the faults stopped (None: not within the bound).
    pub converged: Option<Duration>,
    /// When it did not settle: rows missing, not final, outbox unpublished, events not received.
    pub remaining: [u64; 4],
    pub verdict: Verdict,
    pub provider_stats: mockpay::wire::admin::Stats,
    pub republished: u64,
    pub died_alone: Vec<String>,
    pub unclean_stops: Vec<String>,
}

impl Report {
    /// Broken promises: each check's findings, a run that did not settle, a service that died
    /// by itself or did not stop cleanly.
    pub fn violations(&self) -> usize {
        self.verdict.violations()
            + usize::from(self.converged.is_none())
            + self.died_alone.len()
            + self.unclean_stops.len()
    }
}

const EXAMPLES: usize = 5;

/// A dead letter's reason with its particulars (message ids, durations) blanked, so that the
/// report counts reasons rather than listing every message.
fn generalise(reason: &str) -> String {
    reason
        .split(' ')
        .map(|word| {
            let digits = word.chars().filter(char::is_ascii_digit).count();
            if digits > 0 && digits * 3 >= word.len() { "…" } else { word }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn check(f: &mut fmt::Formatter<'_>, name: &str, findings: &[String]) -> fmt::Result {
    let mark = if findings.is_empty() { "ok  " } else { "FAIL" };
    writeln!(f, "  {mark} {name}: {}", findings.len())?;
    for line in findings.iter().take(EXAMPLES) {
        writeln!(f, "         {line}")?;
    }
    if findings.len() > EXAMPLES {
        writeln!(f, "         … and {} more", findings.len() - EXAMPLES)?;
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let s = &self.sent;
        let v = &self.verdict;
        writeln!(
            f,
            "paygate chaos run: seed {}, {} payments at {}/s, {} refunds wanted",
            o.seed, o.payments, o.rate, o.refunds
        )?;
        writeln!(f, "sent (in {:.0?}):", self.loaded_in)?;
        writeln!(
            f,
            "  pay {}, customer paid at mockpay {}, close {}, refund {}; follow-ups skipped {} (payment took another road), timed out {}; commands published again after a broker failure {}, never confirmed {}",
            s.pays.load(Relaxed),
            s.customer_paid.load(Relaxed),
            s.closes.load(Relaxed),
            s.refunds.load(Relaxed),
            s.follow_ups_skipped.load(Relaxed),
            s.follow_ups_timed_out.load(Relaxed),
            self.republished,
            s.publish_failures.load(Relaxed),
        )?;
        writeln!(f, "provider faults injected (mockpay's counts):")?;
        let mut faults: BTreeMap<&str, u64> = BTreeMap::new();
        for outcomes in self.provider_stats.requests.values() {
            for (outcome, n) in outcomes {
                if matches!(outcome.as_str(), "timeout" | "http_500" | "lost_response") {
                    *faults.entry(outcome.as_str()).or_default() += n;
                }
            }
        }
        let requests: u64 = self.provider_stats.requests.values().flat_map(|o| o.values()).sum();
        let n = &self.provider_stats.notifications;
        writeln!(
            f,
            "  requests {requests}: {faults:?}; declines {}; notifications {} (lost {}, duplicated {}, attempts {})",
            self.provider_stats.declines, n.created, n.dropped, n.duplicated, n.attempts
        )?;
        writeln!(f, "havoc:")?;
        let mut by_service: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, label, _) in &self.havoc.kills {
            *by_service.entry(label.as_str()).or_default() += 1;
        }
        let away_max = self.havoc.kills.iter().map(|k| k.2).max().unwrap_or(0);
        writeln!(f, "  SIGKILLs {} {by_service:?} (longest away {away_max} s)", self.havoc.kills.len())?;
        for (at, what, took) in &self.havoc.restarts {
            writeln!(f, "  {what} restarted at {at} s (took {took} s)")?;
        }
        match self.converged {
            Some(t) => writeln!(f, "settled {:.1} s after the faults stopped", t.as_secs_f64())?,
            None => writeln!(
                f,
                "NOT settled within {:?}: payments without a row {}, payments or refunds not final {}, outbox unpublished {}, events not received {}",
                o.converge_within, self.remaining[0], self.remaining[1], self.remaining[2], self.remaining[3]
            )?,
        }
        writeln!(f, "books:")?;
        writeln!(f, "  payments {} by state {:?}", v.payments_planned, v.payments_by_state)?;
        writeln!(f, "  refunds by state {:?}", v.refunds_by_state)?;
        writeln!(
            f,
            "  mockpay: charges {}, refunds succeeded {}; events received {} (duplicate deliveries {}, arrived after a later one {})",
            v.provider_charges,
            v.provider_refunds_succeeded,
            v.events_received,
            v.duplicate_deliveries,
            v.arrived_out_of_order
        )?;
        writeln!(f, "checks:")?;
        check(f, "payments lost", &v.lost)?;
        writeln!(
            f,
            "  note pay commands the broker never confirmed, with no payment (not taken; upstream knows): {}",
            v.never_taken
        )?;
        check(f, "not final, and nothing says why", &v.unsettled_unexplained)?;
        writeln!(
            f,
            "  note not final, waiting for a person with the reason (needs-attention list, dead letters): {}",
            v.unsettled_listed.len()
        )?;
        for line in v.unsettled_listed.iter().take(EXAMPLES) {
            writeln!(f, "         {line}")?;
        }
        check(f, "double charges", &v.double_charges)?;
        check(f, "refunds over the captured amount", &v.over_refunds)?;
        check(f, "final state differs from mockpay's", &v.disagreements)?;
        check(f, "refund commands that left nothing", &v.refunds_lost)?;
        writeln!(
            f,
            "  note refund commands refused by ingest with a rejection: {}",
            v.refunds_rejected_at_the_door
        )?;
        check(f, "events never received (sequence gaps)", &v.event_gaps)?;
        check(f, "one sequence with two event ids", &v.event_conflicts)?;
        check(f, "final state never told upstream", &v.final_not_evented)?;
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for d in &v.dead_letters {
            let reason = d.reason.as_deref().unwrap_or("no reason");
            let key = format!("[{}] {}", d.message_type.as_deref().unwrap_or("?"), generalise(reason));
            *reasons.entry(key).or_default() += 1;
        }
        writeln!(f, "  note dead letters: {}, by message and reason:", v.dead_letters.len())?;
        for (reason, n) in &reasons {
            writeln!(f, "         {n} × {reason}")?;
        }
        check(f, "dead letters without a reason", &v.dead_letters_without_reason)?;
        check(f, "services that died by themselves", &self.died_alone)?;
        check(f, "services that did not stop cleanly", &self.unclean_stops)?;
        write!(f, "violations: {}", self.violations())
    }
}
