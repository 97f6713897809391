//! The provider adapter trait: everything paygate asks of a payment provider, in our terms.
//!
//! An adapter turns a request into the provider's wire form (signing it), sends it, and turns the
//! answer back into [`PaymentFacts`] or [`RefundFacts`] through its code table. It never decides a
//! state transition: the dispatcher does, from the [`CallOutcome`]. It never retries a call that
//! moves money: an ambiguous end is [`CallOutcome::Unknown`] and the dispatcher queries
//! (docs/architecture.md, decision 3).
//!
//! Every call carries our idempotency key to the provider (decision 2): the payment's trade number
//! for pay, query and close, the refund's for refund and refund query. Every call returns the raw
//! exchange, redacted, for the exchange log, whatever its outcome.
//!
//! Bills and settlements are downloads, not calls: [`ProviderAdapter::bill`] and
//! [`ProviderAdapter::settlement`] return a stream of parsed lines ([`super::bill`]) and an
//! exchange whose body is a summary, never the file.

use super::answers::{Called, PaymentFacts, RefundFacts, ReversalFacts};
use super::bill::{BillDownload, BillError};
use super::exchange::Exchange;
use super::notification::{NotificationPolicy, NotificationVerifier};
use crate::domain::{AuthCode, CaptureMode, Money, Payer};
use crate::messages::commands::PayMethod;
use chrono::{DateTime, NaiveDate, Utc};

/// Ask the provider to take a payment.
#[derive(Debug, Clone)]
pub struct PayRequest {
    /// Our trade number: the provider's idempotency key for this payment (`out_trade_no`,
    /// `orderId`, `Idempotency-Key`). [`trade_no`] derives it from the payment id.
    pub trade_no: String,
    pub amount: Money,
    pub subject: String,
    pub pay_method: PayMethod,
    /// Where the provider sends its notifications (notify-handler), if we want them.
    pub notify_url: Option<String>,
    /// Where the customer's browser comes back to.
    pub return_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The customer's payment code, for a [`PayMethod::Barcode`] payment (Alipay's `auth_code`):
    /// `Debug` redacts it, and each adapter redacts it in the exchange log.
    pub auth_code: Option<AuthCode>,
    /// Who pays, where the provider needs it (WeChat Pay JSAPI's `openid`, H5's IP address).
    pub payer: Payer,
    /// When the money is taken: at once, or by a later [`ProviderAdapter::capture`] (the
    /// provider then answers [`super::PaymentStatus::Authorized`] once the customer paid).
    pub capture: CaptureMode,
}

impl PayRequest {
    /// What of the request a provider's own rules for pay methods, payment codes and payers
    /// ([`PayTerms`]) look at.
    pub fn terms(&self) -> PayTerms<'_> {
        PayTerms {
            pay_method: self.pay_method,
            auth_code: self.auth_code.as_ref(),
            payer: &self.payer,
            capture: self.capture,
        }
    }
}

/// What a provider's rules decide a payment on before anything is sent: the pay method, the
/// customer's payment code and the payer. Each kind of provider has one function that checks
/// them (`registry::ProviderKind::pay_terms`), which ingest applies at the door to a pay command
/// (a refusal names the command's field) and the adapter again before it sends (a payment
/// stored before a rule changed is refused by its adapter, not sent).
#[derive(Debug, Clone, Copy)]
pub struct PayTerms<'a> {
    pub pay_method: PayMethod,
    pub auth_code: Option<&'a AuthCode>,
    pub payer: &'a Payer,
    /// When the money is taken: a provider may authorise separately by some methods only (its
    /// `pay_terms` refuses manual capture for the others, naming the field).
    pub capture: CaptureMode,
}

impl PayTerms<'_> {
    /// The payment code of a barcode payment, or the refusal of one without it.
    pub fn required_auth_code(&self) -> Result<&AuthCode, crate::domain::ValidationError> {
        self.auth_code.ok_or_else(AuthCode::required)
    }
}

/// Ask the provider to refund (part of) a payment.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    /// The payment's trade number.
    pub trade_no: String,
    /// Our refund number: the provider's idempotency key for this refund (`out_request_no`,
    /// `out_refund_no`, `refundId`).
    pub refund_trade_no: String,
    pub amount: Money,
    /// The payment's full amount (WeChat wants it with every refund).
    pub payment_amount: Money,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
}

/// Ask the provider to capture (take) all or part of an authorised payment. The rest of the
/// authorisation is released: a payment is captured once.
#[derive(Debug, Clone)]
pub struct CaptureRequest {
    /// The payment's trade number.
    pub trade_no: String,
    /// How much to take: more than zero, at most `authorized`.
    pub amount: Money,
    /// What the provider authorised (the payment's amount).
    pub authorized: Money,
}

/// Which payment a query or close is about, with what our row knows of it beyond the trade
/// number: the amount, the provider's transaction id once an answer gave one, and whether the
/// payment may still be completed here. A provider whose API needs these (LINE Pay's `check`
/// and `confirm` take its `transactionId`, `confirm` the amount) reads them in
/// [`ProviderAdapter::query_trade`] and [`ProviderAdapter::close_trade`]; the others use the
/// trade number and the currency only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRef {
    /// Our trade number ([`trade_no`]).
    pub trade_no: String,
    /// The payment's amount (and so its currency), as our row has it.
    pub amount: Money,
    /// The provider's transaction id, when an earlier answer gave one.
    pub provider_txn_id: Option<String>,
    /// Whether the payment is still open here (`pending`, `action_required`, `unknown`): only
    /// then may a query finish a payment the customer approved (LINE Pay's `confirm`, which
    /// moves the money). A query about a closed or settled payment only reads.
    pub may_complete: bool,
    /// How the payment was made, when known: a provider with separate APIs per method asks the
    /// right one (LINE Pay's POS API for a `barcode` one-time-key payment).
    pub pay_method: Option<PayMethod>,
    /// How the payment takes its money, as our row has it: a provider whose confirm answer does
    /// not say whether it authorised or captured (LINE Pay) reads it from here.
    pub capture: CaptureMode,
}

impl TradeRef {
    /// A payment known by its trade number and amount only, which may be completed.
    pub fn new(trade_no: impl Into<String>, amount: Money) -> Self {
        Self {
            trade_no: trade_no.into(),
            amount,
            provider_txn_id: None,
            may_complete: true,
            pay_method: None,
            capture: CaptureMode::Automatic,
        }
    }

    /// The same, with the provider's transaction id.
    #[must_use]
    pub fn with_provider_txn_id(mut self, id: Option<String>) -> Self {
        self.provider_txn_id = id;
        self
    }

    pub fn currency(&self) -> crate::domain::Currency {
        self.amount.currency()
    }
}

/// Which refund a refund query is about, with what our row knows of it: its amount and the
/// provider's refund id once an answer gave one. A provider that keeps no refund number of ours
/// (LINE Pay) finds the refund by them ([`ProviderAdapter::refund_query_ref`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRef {
    /// The payment's trade number.
    pub trade_no: String,
    /// Our refund number.
    pub refund_trade_no: String,
    /// The refund's amount (and so its currency).
    pub amount: Money,
    /// The provider's refund id, when an earlier answer gave one.
    pub provider_refund_id: Option<String>,
}

/// The payment or refund id behind one of our trade numbers, if it is one (32 lower-case hex
/// digits): how a bill line finds its local row. A number we never issued gives `None`.
pub fn id_of_trade_no(trade_no: &str) -> Option<uuid::Uuid> {
    if trade_no.len() == 32 && trade_no.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        uuid::Uuid::try_parse(trade_no).ok()
    } else {
        None
    }
}

/// The id of the full refund the system records when a provider's reversal of a barcode payment
/// refunded it (the dispatcher's `work::refund::reversal`): derived from the payment's id, so that
/// a bill's refund line made by the reversal, which carries no refund number of ours but the
/// payment's own trade number (or none), finds it ([`refund_id_of_line`]).
pub fn reversal_refund_id(payment_id: uuid::Uuid) -> uuid::Uuid {
    uuid::Uuid::new_v5(&payment_id, b"reversal")
}

/// The refund id behind a bill's refund line: its refund number's, or, when the line carries the
/// payment's own trade number in its place (or none), the payment's reversal refund
/// ([`reversal_refund_id`]): that is the refund a reversal made.
pub fn refund_id_of_line(trade_no: &str, refund_trade_no: Option<&str>) -> Option<uuid::Uuid> {
    match refund_trade_no.filter(|r| !r.is_empty()) {
        Some(r) if r != trade_no => id_of_trade_no(r),
        _ => id_of_trade_no(trade_no).map(reversal_refund_id),
    }
}

/// The trade number we send providers for a payment or refund id: the UUID's 32 lower-case hex
/// digits. Unique across all merchants (two merchants may share a provider account), and inside
/// every provider's limits (WeChat allows 6 to 32 characters of `[A-Za-z0-9_-|*]`).
pub fn trade_no(id: uuid::Uuid) -> String {
    id.simple().to_string()
}

/// One payment provider. Implementations hold their credentials and HTTP client; they are shared
/// across tasks (`Arc<dyn ProviderAdapter>`).
#[async_trait::async_trait]
pub trait ProviderAdapter: Send + Sync + 'static {
    /// The provider's name as commands and rows spell it (`mockpay`, `alipay`, …).
    fn name(&self) -> &'static str;

    /// Does the provider finish refunds asynchronously (a `processing` answer to a refund)?
    fn refunds_are_asynchronous(&self) -> bool;

    /// How the provider's notifications are verified and read (the dispatcher re-reads stored
    /// ones with [`NotificationVerifier::parse`] and checks their account).
    fn notifications(&self) -> &dyn NotificationVerifier;

    /// Whether a verified notification is enough or the provider is queried back first.
    fn notification_policy(&self) -> NotificationPolicy;

    /// How long after our last pay request the provider's "no such trade" may be believed. Until
    /// then it proves nothing: providers make a new trade visible with a lag, and a request we
    /// gave up on may still arrive. A payment that may have been sent is closed on a not-found
    /// only past this age (docs/providers.md gives each provider's figure and why).
    fn not_found_is_final_after(&self) -> std::time::Duration;

    /// Whether the provider holds a trade for a payment by `method` from our pay request on, before
    /// the customer does anything (the default). Where it does not (Alipay's QR code and cashier
    /// pages: the trade is made when the customer scans or opens it), a "no such trade" for a
    /// payment waiting for its customer means only that they have not acted yet: it is not a
    /// lost payment, and a close or an expiry may take it as closed.
    fn trade_exists_before_the_customer_acts(&self, _method: PayMethod) -> bool {
        true
    }

    /// Creates (and for `direct`, charges) the payment. Repeating it with the same trade number
    /// never charges twice: the provider answers the original.
    async fn pay(&self, request: &PayRequest) -> Called<PaymentFacts>;

    /// The payment as the provider knows it. [`super::PaymentStatus::NotFound`] means the provider
    /// never processed a pay request with this trade number.
    async fn query(&self, trade_no: &str, currency: crate::domain::Currency) -> Called<PaymentFacts>;

    /// Closes an unpaid payment. A payment the provider says is already paid comes back as an
    /// answer with [`super::PaymentStatus::Succeeded`], so that the caller records the payment
    /// instead of the close.
    async fn close(&self, trade_no: &str, currency: crate::domain::Currency) -> Called<PaymentFacts>;

    /// [`ProviderAdapter::query`] with what our row knows of the payment ([`TradeRef`]): what the
    /// dispatcher calls. The default asks by the trade number and currency; a provider whose
    /// query needs its own transaction id or the amount (LINE Pay) overrides it.
    async fn query_trade(&self, trade: &TradeRef) -> Called<PaymentFacts> {
        self.query(&trade.trade_no, trade.currency()).await
    }

    /// [`ProviderAdapter::close`] with what our row knows of the payment, as
    /// [`ProviderAdapter::query_trade`]. A close never completes a payment, whatever
    /// `may_complete` says.
    async fn close_trade(&self, trade: &TradeRef) -> Called<PaymentFacts> {
        self.close(&trade.trade_no, trade.currency()).await
    }

    /// How long a barcode (face-to-face) payment may stay unfinished before it is reversed
    /// ([`ProviderAdapter::reverse`]) instead of queried again, counted from the payment's
    /// creation. `None` (the default): the provider has no reversal, its barcode payments are
    /// only queried.
    fn reverse_barcode_after(&self) -> Option<std::time::Duration> {
        None
    }

    /// Reverses a barcode payment that did not finish in time: the provider closes it if it is
    /// unpaid, or refunds it in full if it was paid meanwhile (Alipay's `alipay.trade.cancel`).
    /// An answer asking for the reversal to be sent again is [`CallOutcome::Unknown`]: repeating
    /// it is safe, and it is repeated until the provider settles it. The default answers that the
    /// provider has no reversal, and sends nothing.
    async fn reverse(&self, trade_no: &str, currency: crate::domain::Currency) -> Called<ReversalFacts> {
        let _ = (trade_no, currency);
        let why = format!("{} has no reversal of a payment", self.name());
        super::decided::refused_locally(self.name(), "reverse", "POST", "", &why)
    }

    /// Captures all or part of an authorised payment ([`CaptureRequest`]); the rest of the
    /// authorisation is released. The answer is the payment's facts: [`super::PaymentStatus::Succeeded`]
    /// once captured (a repeat of a capture that was made answers the same), still
    /// [`super::PaymentStatus::Authorized`] if nothing was taken, `Closed`/`Expired` if the
    /// authorisation was released meanwhile. An ambiguous end is [`CallOutcome::Unknown`]: never
    /// repeated blindly, the payment is queried. The default refuses locally and sends nothing:
    /// the provider has no separate capture (its kind's `authorizes_separately` is false).
    ///
    /// [`CallOutcome::Unknown`]: super::CallOutcome::Unknown
    async fn capture(&self, request: &CaptureRequest) -> Called<PaymentFacts> {
        let _ = request;
        let why = format!("{} has no separate capture of an authorised payment", self.name());
        super::decided::refused_locally(self.name(), "capture", "POST", "", &why)
    }

    /// Voids (releases) an authorised, uncaptured payment: none of the money is taken. The
    /// answer is the payment's facts: `Closed` once released (a repeat answers the same),
    /// `Succeeded` if it was captured first, `Authorized` if the provider kept it. The default
    /// refuses locally and sends nothing, as [`ProviderAdapter::capture`]'s.
    async fn void(&self, trade_no: &str, currency: crate::domain::Currency) -> Called<PaymentFacts> {
        let _ = (trade_no, currency);
        let why = format!("{} has no void of an authorised payment", self.name());
        super::decided::refused_locally(self.name(), "void", "POST", "", &why)
    }

    /// Whether sending a refund again under the same refund number never refunds twice: the
    /// provider keeps our refund number as an idempotency key. One that keeps none (LINE Pay)
    /// says `false`; the dispatcher then sends a refund whose first request may have reached the
    /// provider again only once a query proved the provider has no record of it.
    fn refunds_repeat_safely(&self) -> bool {
        true
    }

    /// Starts a refund. Repeating it with the same refund number never refunds twice, where
    /// [`ProviderAdapter::refunds_repeat_safely`].
    async fn refund(&self, request: &RefundRequest) -> Called<RefundFacts>;

    /// The refund as the provider knows it. [`super::RefundStatus::NotFound`] means the provider
    /// never processed a refund with this number.
    async fn refund_query(
        &self,
        trade_no: &str,
        refund_trade_no: &str,
        currency: crate::domain::Currency,
    ) -> Called<RefundFacts>;

    /// [`ProviderAdapter::refund_query`] with what our row knows of the refund ([`RefundRef`]):
    /// what the dispatcher calls. The default asks by the numbers and the currency.
    async fn refund_query_ref(&self, refund: &RefundRef) -> Called<RefundFacts> {
        self.refund_query(&refund.trade_no, &refund.refund_trade_no, refund.amount.currency()).await
    }

    /// The zone the provider's days are counted in: those of its bills and settlements
    /// ([`super::provider_day`]). UTC unless the provider says otherwise.
    fn day_offset(&self) -> chrono::FixedOffset {
        super::provider_day::utc()
    }

    /// Whether the provider offers trade bills and settlements to download ([`ProviderAdapter::bill`],
    /// [`ProviderAdapter::settlement`]). One that does not (LINE Pay) is reconciled by a query
    /// sweep (`recon::sweep`) instead.
    fn offers_bills(&self) -> bool {
        true
    }

    /// Opens the trade bill of `day` (the provider's day; UTC for mockpay): every payment and
    /// refund that completed that day, streamed line by line, never read whole (decision 12).
    async fn bill(&self, day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)>;

    /// Opens the settlement of `day`'s transactions: its lines (bank-initiated refunds included)
    /// and its totals per currency, streamed like [`ProviderAdapter::bill`].
    async fn settlement(&self, day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_line_under_the_payments_own_number_is_its_reversal_refund() {
        let payment = uuid::Uuid::now_v7();
        let refund = uuid::Uuid::now_v7();
        let (p, r) = (trade_no(payment), trade_no(refund));
        assert_eq!(refund_id_of_line(&p, Some(&r)), Some(refund));
        assert_eq!(refund_id_of_line(&p, Some(&p)), Some(reversal_refund_id(payment)));
        assert_eq!(refund_id_of_line(&p, None), Some(reversal_refund_id(payment)));
        assert_ne!(reversal_refund_id(payment), payment, "refund and payment ids never share a history");
        assert_eq!(refund_id_of_line("not-ours", Some("auto-x")), None);
    }
}
