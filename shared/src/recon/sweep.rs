//! Reconciliation without a bill: a query sweep ([`super::Kind::Sweep`]) for a provider that
//! offers no bill or settlement download (LINE Pay; [`ProviderAdapter::offers_bills`]).
//!
//! The sweep of a provider's day asks the provider about every payment and refund we finished
//! that day, one query at a time, and turns each answer into a [`BillLine`]: what the provider
//! says of our row. The batch then goes through the same loading and matching as a bill
//! ([`super::engine`]), so a disagreement is a discrepancy of the same kind a bill would give:
//! the provider says a payment we hold as paid is closed or unknown (`status_mismatch`), that a
//! payment we closed took the money (`status_mismatch`, the paid-after-close case), another
//! amount (`amount_mismatch`), another transaction (`duplicate_payment`), a refund in another
//! state or of another amount (`refund_mismatch`).
//!
//! - **What is swept.** Payments of the provider in a final state (paid, refunded, failed, closed,
//!   expired, voided) that reached it in the provider's day: paid ones by `succeeded_at`, the others by
//!   their last transition into that state. Refunds that succeeded or failed that day, the same
//!   way. A reversal's refund (the dispatcher's record of a provider's cancel) is not a refund
//!   the provider can be asked about by number, and is left out.
//! - **What a line says.** The provider's status ([`word`]), and its amount and transaction id
//!   where the answer states them; where it does not, ours (the captured amount of a
//!   manual-capture payment), so that what was not said is not
//!   reported as a difference. A query states no fee: a sweep's lines are not checked for one
//!   ([`super::Kind::states_fees`]). A "no such trade" is a line too (`NOT_FOUND`, not
//!   succeeded): for a payment we hold as paid, the provider disagrees.
//! - **Paced.** At most [`super::ReconConfig::sweep_per_second`] queries a second (a GCRA limiter,
//!   `governor`), so a day's sweep never crowds out the provider's rate limit for live payments.
//! - **Resumable.** Lines are committed in chunks of [`CHUNK_LINES`] with the batch's cursor, and
//!   a run selects only the rows the batch has no line for yet, so a run that died (or a query
//!   that failed) resumes where it stopped, without asking again what it already has.
//! - **Logged.** Every query's exchange goes to the exchange log under its payment (and refund),
//!   like the dispatcher's calls.
//! - **Never decides.** The sweep only reads. What a query can prove (a payment we still hold as
//!   unsettled is never swept: the stuck scan follows those) is the dispatcher's to apply; the
//!   rest is a discrepancy for a person, as with a bill.
//!
//! A query that gets no answer (unknown, retry later, refused) ends the sweep with the batch
//! `failed`, naming the order: the next run resumes from it. A sweep never passes over a row it
//! could not ask about.

use super::Kind;
use super::engine::{BillSource, OpenedBill, Resume};
use crate::domain::{Currency, Money, PayMethod};
use crate::providers::adapter::{RefundRef, TradeRef, reversal_refund_id, trade_no};
use crate::providers::answers::{CallOutcome, Called, PaymentStatus, RefundStatus};
use crate::providers::bill::{BillError, BillItem, BillLine, BillLineKind};
use crate::providers::{Exchange, ProviderAdapter};
use crate::store::exchanges;
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sqlx::PgPool;
use std::num::NonZeroU32;
use uuid::Uuid;

/// Lines per committed chunk: small, because each line cost a query.
pub const CHUNK_LINES: usize = 50;

/// The provider asked about our rows, as a source of lines.
pub struct QuerySweep<'a> {
    pool: PgPool,
    adapter: &'a dyn ProviderAdapter,
    per_second: NonZeroU32,
}

impl<'a> QuerySweep<'a> {
    /// A sweep through `adapter`, at most `per_second` queries a second (0 is taken as 1).
    pub fn new(pool: PgPool, adapter: &'a dyn ProviderAdapter, per_second: u32) -> Self {
        Self { pool, adapter, per_second: NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN) }
    }
}

/// One of our rows to ask about.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    payment_id: Uuid,
    /// Set for a refund.
    refund_id: Option<Uuid>,
    amount_minor: i64,
    currency: String,
    provider_txn_id: Option<String>,
    provider_refund_id: Option<String>,
    /// How the payment was made (`payments.pay_method`).
    pay_method: String,
    completed_at: DateTime<Utc>,
}

/// Our payments and refunds of the provider's day that the batch has no line for yet, payments
/// first, each in id order.
async fn rows_to_sweep(
    pool: &PgPool,
    provider: &str,
    day_starts: DateTime<Utc>,
    batch_id: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(
        "WITH ours AS (
             SELECT p.id AS payment_id, NULL::uuid AS refund_id,
                    COALESCE(p.captured_minor, p.amount_minor) AS amount_minor, p.currency::text AS currency,
                    p.provider_txn_id, NULL::text AS provider_refund_id, p.pay_method::text AS pay_method,
                    coalesce(p.succeeded_at,
                             (SELECT max(t.occurred_at) FROM state_transitions t
                              WHERE t.payment_id = p.id AND t.entity = 'payment' AND t.to_state = p.state))
                        AS completed_at,
                    0 AS part
             FROM payments p
             WHERE p.provider = $1
               AND p.state IN ('succeeded', 'partially_refunded', 'refunded', 'failed', 'closed', 'expired', 'voided')
               AND NOT EXISTS (SELECT 1 FROM recon_lines l
                               WHERE l.batch_id = $3 AND l.kind = 'payment' AND l.payment_id = p.id)
             UNION ALL
             SELECT r.payment_id, r.id, r.amount_minor, r.currency::text, p.provider_txn_id, r.provider_refund_id,
                    p.pay_method::text,
                    coalesce(r.succeeded_at,
                             (SELECT max(t.occurred_at) FROM state_transitions t
                              WHERE t.refund_id = r.id AND t.to_state = r.state)),
                    1
             FROM refunds r JOIN payments p ON p.id = r.payment_id AND p.provider = $1
             WHERE r.state IN ('succeeded', 'failed')
               AND NOT EXISTS (SELECT 1 FROM recon_lines l
                               WHERE l.batch_id = $3 AND l.kind = 'refund' AND l.refund_id = r.id)
         )
         SELECT payment_id, refund_id, amount_minor, currency, provider_txn_id, provider_refund_id, pay_method,
                completed_at
         FROM ours
         WHERE completed_at >= $2 AND completed_at < $2 + interval '1 day'
         ORDER BY part, coalesce(refund_id, payment_id)",
    )
    .bind(provider)
    .bind(day_starts)
    .bind(batch_id)
    .fetch_all(pool)
    .await
}

/// The word a sweep line gives the provider's payment status.
pub fn word(status: &PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::WaitingForCustomer => "WAITING_FOR_CUSTOMER",
        PaymentStatus::Processing => "PROCESSING",
        PaymentStatus::Succeeded => "SUCCEEDED",
        PaymentStatus::Authorized => "AUTHORIZED",
        PaymentStatus::Failed => "FAILED",
        PaymentStatus::Closed => "CLOSED",
        PaymentStatus::Expired => "EXPIRED",
        PaymentStatus::NotFound => "NOT_FOUND",
    }
}

/// The word a sweep line gives the provider's refund status.
pub fn refund_word(status: RefundStatus) -> &'static str {
    match status {
        RefundStatus::Processing => "PROCESSING",
        RefundStatus::Succeeded => "SUCCEEDED",
        RefundStatus::Failed => "FAILED",
        RefundStatus::NotFound => "NOT_FOUND",
    }
}

/// The amount and currency a line states: the provider's where it said, ours otherwise.
fn stated(theirs: Option<Money>, row: &Row) -> (i64, String) {
    match theirs {
        Some(m) => (m.minor_units(), m.currency().as_str().to_owned()),
        None => (row.amount_minor, row.currency.clone()),
    }
}

/// The line for a payment the provider answered about.
fn payment_line(row: &Row, facts: &crate::providers::answers::PaymentFacts) -> BillLine {
    let (amount_minor, currency) = stated(facts.amount, row);
    BillLine {
        kind: BillLineKind::Payment,
        trade_no: trade_no(row.payment_id),
        refund_trade_no: None,
        provider_txn_id: facts
            .provider_txn_id
            .clone()
            .or_else(|| row.provider_txn_id.clone())
            .unwrap_or_default(),
        provider_refund_id: None,
        amount_minor,
        fee_minor: 0,
        currency,
        status: word(&facts.status).to_owned(),
        succeeded: facts.status == PaymentStatus::Succeeded,
        completed_at: facts.paid_at.unwrap_or(row.completed_at),
    }
}

/// The line for a refund the provider answered about.
fn refund_line(row: &Row, refund_id: Uuid, facts: &crate::providers::answers::RefundFacts) -> BillLine {
    let (amount_minor, currency) = stated(facts.amount, row);
    BillLine {
        kind: BillLineKind::Refund,
        trade_no: trade_no(row.payment_id),
        refund_trade_no: Some(trade_no(refund_id)),
        provider_txn_id: row.provider_txn_id.clone().unwrap_or_default(),
        provider_refund_id: facts.provider_refund_id.clone().or_else(|| row.provider_refund_id.clone()),
        amount_minor,
        fee_minor: 0,
        currency,
        status: refund_word(facts.status).to_owned(),
        succeeded: facts.status == RefundStatus::Succeeded,
        completed_at: row.completed_at,
    }
}

/// Why a query gave no answer to build a line from.
fn unanswered<T>(outcome: &CallOutcome<T>) -> Option<String> {
    match outcome {
        CallOutcome::Answer { .. } => None,
        CallOutcome::Refused { code } => Some(format!("refused: {}", code.describe())),
        CallOutcome::RetryLater { code } => Some(format!("retry later: {}", code.describe())),
        CallOutcome::Unknown { reason, .. } => Some(format!("no answer: {reason}")),
    }
}

struct Sweeper<'a> {
    pool: PgPool,
    adapter: &'a dyn ProviderAdapter,
    limiter: DefaultDirectRateLimiter,
}

impl Sweeper<'_> {
    /// Logs a call's exchanges under its payment (and refund).
    async fn log<T>(&self, row: &Row, called: &Called<T>) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let all: Vec<&Exchange> = called.earlier.iter().chain(std::iter::once(&called.exchange)).collect();
        for x in all {
            exchanges::record(&mut conn, Some(row.payment_id), row.refund_id, x).await?;
        }
        Ok(())
    }

    /// Asks about one row; its line, or why there is none.
    async fn ask(&self, row: &Row) -> Result<BillLine, String> {
        self.limiter.until_ready().await;
        let currency =
            Currency::parse(&row.currency).map_err(|e| format!("our currency {:?}: {e}", row.currency))?;
        let amount = Money::from_minor(row.amount_minor, currency)
            .map_err(|e| format!("our amount {} {currency}: {e}", row.amount_minor))?;
        let payment = trade_no(row.payment_id);
        let logged = |e: sqlx::Error| format!("logging the query's exchange failed: {e}");
        match row.refund_id {
            None => {
                // A sweep only reads: `may_complete: false`, so a provider whose query can finish
                // an approved payment (LINE Pay's confirm) never moves money from here.
                let trade = TradeRef {
                    trade_no: payment.clone(),
                    amount,
                    provider_txn_id: row.provider_txn_id.clone(),
                    may_complete: false,
                    pay_method: PayMethod::parse(&row.pay_method).ok(),
                    // A sweep never confirms (`may_complete: false`), so how the payment takes its
                    // money changes nothing here; the amount asked with is the captured one.
                    capture: Default::default(),
                };
                let called = self.adapter.query_trade(&trade).await;
                self.log(row, &called).await.map_err(logged)?;
                match &called.outcome {
                    CallOutcome::Answer { facts, .. } => Ok(payment_line(row, facts)),
                    other => Err(format!(
                        "the query of order {payment}: {}",
                        unanswered(other).unwrap_or_default()
                    )),
                }
            }
            Some(refund_id) => {
                let refund = trade_no(refund_id);
                let called = self
                    .adapter
                    .refund_query_ref(&RefundRef {
                        trade_no: payment.clone(),
                        refund_trade_no: refund.clone(),
                        amount,
                        provider_refund_id: row.provider_refund_id.clone(),
                    })
                    .await;
                self.log(row, &called).await.map_err(logged)?;
                match &called.outcome {
                    CallOutcome::Answer { facts, .. } => Ok(refund_line(row, refund_id, facts)),
                    other => Err(format!(
                        "the refund query of refund {refund} (order {payment}): {}",
                        unanswered(other).unwrap_or_default()
                    )),
                }
            }
        }
    }
}

impl BillSource for QuerySweep<'_> {
    fn day_offset(&self) -> chrono::FixedOffset {
        self.adapter.day_offset()
    }

    fn open(
        &self,
        kind: Kind,
        day: NaiveDate,
        resume: Resume,
    ) -> BoxFuture<'_, Result<OpenedBill<'_>, (BillError, Option<Exchange>)>> {
        Box::pin(async move {
            let failed = |reason: String| (BillError::Download { operation: "sweep", reason }, None);
            if kind != Kind::Sweep {
                return Err(failed(format!("a query sweep gives sweep lines, not a {} file", kind.as_str())));
            }
            let day_starts = crate::providers::provider_day::starts_at(day, self.day_offset());
            let rows = rows_to_sweep(&self.pool, self.adapter.name(), day_starts, resume.batch_id)
                .await
                .map_err(|e| failed(format!("reading our payments and refunds of {day}: {e}")))?;
            // A reversal's refund has no refund number at the provider to ask about.
            let rows: Vec<Row> =
                rows.into_iter().filter(|r| r.refund_id != Some(reversal_refund_id(r.payment_id))).collect();
            let sweeper = Sweeper {
                pool: self.pool.clone(),
                adapter: self.adapter,
                limiter: RateLimiter::direct(Quota::per_second(self.per_second)),
            };
            let first = resume.lines_loaded;
            let items = futures_util::stream::unfold(
                (sweeper, rows.into_iter(), first, false),
                |(sweeper, mut rows, line, stopped)| async move {
                    if stopped {
                        return None;
                    }
                    let row = rows.next()?;
                    match sweeper.ask(&row).await {
                        Ok(l) => Some((Ok(BillItem::Line(l)), (sweeper, rows, line + 1, false))),
                        Err(reason) => {
                            let e = BillError::BrokeOff { operation: "sweep", line, reason };
                            Some((Err(e), (sweeper, rows, line, true)))
                        }
                    }
                },
            );
            Ok(OpenedBill {
                items: Box::pin(items),
                exchange: None,
                earlier: Vec::new(),
                already_loaded: resume.lines_loaded,
                chunk_lines: CHUNK_LINES,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(amount_minor: i64) -> Row {
        Row {
            payment_id: Uuid::now_v7(),
            refund_id: None,
            amount_minor,
            currency: "CNY".into(),
            provider_txn_id: Some("T1".into()),
            provider_refund_id: None,
            pay_method: "qr".into(),
            completed_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_line_states_what_the_provider_said_and_ours_where_it_said_nothing() {
        let ours = row(1_000);
        let mut facts = crate::providers::answers::PaymentFacts::status(PaymentStatus::Succeeded);
        let line = payment_line(&ours, &facts);
        assert_eq!(
            (line.amount_minor, line.currency.as_str(), line.provider_txn_id.as_str()),
            (1_000, "CNY", "T1")
        );
        assert!(line.succeeded);
        assert_eq!(line.trade_no, trade_no(ours.payment_id));

        facts.amount = Some(Money::from_minor(999, Currency::parse("CNY").unwrap()).unwrap());
        facts.provider_txn_id = Some("T2".into());
        facts.status = PaymentStatus::Closed;
        let line = payment_line(&ours, &facts);
        assert_eq!(
            (line.amount_minor, line.provider_txn_id.as_str(), line.status.as_str()),
            (999, "T2", "CLOSED")
        );
        assert!(!line.succeeded);
        assert_eq!(line.fee_minor, 0, "a query states no fee");
    }

    #[test]
    fn a_refund_line_names_the_refund_and_its_payment() {
        let mut ours = row(300);
        let refund = Uuid::now_v7();
        ours.refund_id = Some(refund);
        let line = refund_line(
            &ours,
            refund,
            &crate::providers::answers::RefundFacts::status(RefundStatus::NotFound),
        );
        assert_eq!(line.kind, BillLineKind::Refund);
        assert_eq!(line.refund_trade_no, Some(trade_no(refund)));
        assert_eq!(line.status, "NOT_FOUND");
        assert!(!line.succeeded);
    }
}
