//! Stripe's wire types (PaymentIntent, Refund, search results and lists, the error body) and
//! their conversions to and from ours. Requests are `application/x-www-form-urlencoded` with
//! Stripe's bracket notation (`metadata[trade_no]=…`); answers are JSON. Amounts are integer
//! minor units both sides: our [`Currency`] exponent is Stripe's for every currency we take
//! (zero-decimal JPY, KRW, … included); currencies are lower case on the wire.

use super::codes;
use crate::domain::{Currency, Money};
use crate::messages::events::{CustomerAction, HttpGet};
use crate::providers::adapter::{CaptureRequest, PayRequest, RefundRequest};
use crate::providers::answers::{PaymentFacts, PaymentStatus, RefundFacts};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The metadata key our trade number travels in (PaymentIntents and refunds).
pub const META_TRADE_NO: &str = "trade_no";
/// The metadata key our refund number travels in.
pub const META_REFUND_NO: &str = "refund_no";

/// A request refused before it is sent: the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct NotSendable {
    pub field: &'static str,
    pub rule: String,
}

/// An answer that could not be read; the outcome stays unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// A form body in Stripe's bracket notation, in the order the fields were added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push((key.into(), value.into()));
        self
    }

    /// `application/x-www-form-urlencoded`, brackets percent-encoded as every Stripe SDK sends
    /// them.
    pub fn encode(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            s.append_pair(k, v);
        }
        s.finish()
    }

    pub fn fields(&self) -> &[(String, String)] {
        &self.0
    }
}

/// Stripe's lower-case currency code.
pub fn wire_currency(c: Currency) -> String {
    c.code().to_ascii_lowercase()
}

/// The create form of a PaymentIntent for `request`: amount, currency, our trade number in
/// `metadata[trade_no]`, the subject as `description`, card and wallet methods chosen by Stripe
/// (`automatic_payment_methods[enabled]`), and the capture the request asks for: `automatic`, or
/// `manual` (the customer's confirmation only authorises; `requires_capture` until a capture or a
/// cancel). The customer confirms with the client secret.
pub fn create_form(request: &PayRequest) -> Result<Form, NotSendable> {
    if request.amount.is_zero() {
        return Err(NotSendable {
            field: "amount",
            rule: "must be above zero: Stripe refuses a zero PaymentIntent".into(),
        });
    }
    let mut form = Form::new()
        .with("amount", request.amount.minor_units().to_string())
        .with("currency", wire_currency(request.amount.currency()))
        .with("capture_method", if request.capture.is_manual() { "manual" } else { "automatic" })
        .with("automatic_payment_methods[enabled]", "true")
        .with(format!("metadata[{META_TRADE_NO}]"), request.trade_no.clone());
    if !request.subject.is_empty() {
        form = form.with("description", request.subject.chars().take(1000).collect::<String>());
    }
    Ok(form)
}

/// The create form of a refund of `payment_intent` for `request`.
pub fn refund_form(request: &RefundRequest, payment_intent: &str) -> Result<Form, NotSendable> {
    if request.amount.is_zero() {
        return Err(NotSendable { field: "amount", rule: "a refund must be above zero".into() });
    }
    if request.amount.currency() != request.payment_amount.currency() {
        return Err(NotSendable {
            field: "amount.currency",
            rule: format!(
                "must be the payment's currency {} (got {})",
                request.payment_amount.currency(),
                request.amount.currency()
            ),
        });
    }
    let mut form = Form::new()
        .with("payment_intent", payment_intent)
        .with("amount", request.amount.minor_units().to_string())
        .with(format!("metadata[{META_TRADE_NO}]"), request.trade_no.clone())
        .with(format!("metadata[{META_REFUND_NO}]"), request.refund_trade_no.clone());
    if let Some(reason) = request.reason.as_deref().filter(|r| !r.is_empty()) {
        // Stripe's own `reason` is an enum; ours is free text, kept in metadata (500 chars max).
        form = form.with("metadata[reason]", reason.chars().take(500).collect::<String>());
    }
    Ok(form)
}

/// The search query that finds the PaymentIntent of one trade number.
pub fn search_query(trade_no: &str) -> String {
    format!("metadata['{META_TRADE_NO}']:'{trade_no}'")
}

/// A PaymentIntent's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentIntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Succeeded,
    Canceled,
}

impl PaymentIntentStatus {
    pub const ALL: [Self; 7] = [
        Self::RequiresPaymentMethod,
        Self::RequiresConfirmation,
        Self::RequiresAction,
        Self::Processing,
        Self::RequiresCapture,
        Self::Succeeded,
        Self::Canceled,
    ];
}

/// A Refund's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    Pending,
    RequiresAction,
    Succeeded,
    Failed,
    Canceled,
}

impl RefundState {
    pub const ALL: [Self; 5] =
        [Self::Pending, Self::RequiresAction, Self::Succeeded, Self::Failed, Self::Canceled];
}

/// `next_action.redirect_to_url`.
#[derive(Debug, Clone, Deserialize)]
pub struct RedirectToUrl {
    pub url: String,
}

/// `next_action`.
#[derive(Debug, Clone, Deserialize)]
pub struct NextAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub redirect_to_url: Option<RedirectToUrl>,
}

/// `last_payment_error`.
#[derive(Debug, Clone, Deserialize)]
pub struct LastPaymentError {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: Option<String>,
}

/// A PaymentIntent, as far as we read it (unknown fields are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: PaymentIntentStatus,
    pub client_secret: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub next_action: Option<NextAction>,
    pub last_payment_error: Option<LastPaymentError>,
    pub created: Option<i64>,
    /// Why a `canceled` PaymentIntent was cancelled: `automatic` when Stripe released an
    /// uncaptured authorisation past its expiry (7 days).
    #[serde(default)]
    pub cancellation_reason: Option<String>,
}

/// The form of a capture of `request.amount` (`amount_to_capture`; the rest is released).
pub fn capture_form(request: &CaptureRequest) -> Result<Form, NotSendable> {
    if request.amount.is_zero() || request.amount.minor_units() > request.authorized.minor_units() {
        return Err(NotSendable {
            field: "amount",
            rule: format!(
                "a capture must be above zero and at most the authorised {} (got {})",
                request.authorized, request.amount
            ),
        });
    }
    Ok(Form::new().with("amount_to_capture", request.amount.minor_units().to_string()))
}

/// A Refund, as far as we read it.
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: RefundState,
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub failure_reason: Option<String>,
}

/// A search result or a list: `{object, data: [...], has_more}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Listing<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

/// An error answer's `error`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub code: Option<String>,
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: String,
    pub param: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

impl ErrorObject {
    /// The `error` of an error answer's body.
    pub fn parse(body: &str) -> Result<Self, Unreadable> {
        serde_json::from_str::<ErrorBody>(body).map(|b| b.error).map_err(|e| {
            Unreadable(format!("the error body is not Stripe's {{\"error\": {{type, …}}}} ({e})"))
        })
    }

    /// The message with the parameter it names, for the exchange log and events.
    pub fn describe(&self) -> String {
        match &self.param {
            Some(p) => format!("{} (param {p})", self.message),
            None => self.message.clone(),
        }
    }
}

/// Reads `body` as `T`, naming `what` was expected when it is not.
pub fn read<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, Unreadable> {
    let de = &mut serde_json::Deserializer::from_str(body);
    serde_path_to_error::deserialize(de)
        .map_err(|e| Unreadable(format!("expected {what}: {}: {}", e.path(), e.inner())))
}

/// Stripe's lower-case code as our [`Currency`].
pub fn currency(field: &str, wire: &str) -> Result<Currency, Unreadable> {
    Currency::parse(&wire.to_ascii_uppercase()).map_err(|e| Unreadable(format!("{field}: {e}")))
}

/// An amount in minor units of a wire currency.
pub fn money(field: &str, minor: i64, wire_currency: &str) -> Result<Money, Unreadable> {
    let c = currency(&format!("{field}.currency"), wire_currency)?;
    Money::from_minor(minor, c).map_err(|e| Unreadable(format!("{field}: {e}")))
}

impl PaymentIntent {
    /// Checks that the PaymentIntent carries our trade number.
    pub fn check_trade_no(&self, trade_no: &str) -> Result<(), Unreadable> {
        match self.metadata.get(META_TRADE_NO) {
            Some(t) if t == trade_no => Ok(()),
            other => Err(Unreadable(format!(
                "metadata.{META_TRADE_NO} must be our trade number {trade_no:?} (got {other:?}): an answer about another payment"
            ))),
        }
    }

    /// The PaymentIntent in our terms. While the customer must act, the action is theirs: the
    /// 3-D Secure redirect when `next_action.redirect_to_url` says so, the client secret
    /// otherwise.
    pub fn into_facts(self, trade_no: &str) -> Result<PaymentFacts, Unreadable> {
        self.check_trade_no(trade_no)?;
        let amount = money("amount", self.amount, &self.currency)?;
        let row = codes::payment_state(self.status);
        // Stripe's own release of an authorisation past its expiry is an expiry, not our cancel.
        let expired = self.status == PaymentIntentStatus::Canceled
            && self.cancellation_reason.as_deref() == Some("automatic");
        let action = match self.status {
            PaymentIntentStatus::RequiresAction => {
                match self.next_action.as_ref().and_then(|n| n.redirect_to_url.as_ref()) {
                    Some(r) => Some(CustomerAction::Redirect { method: HttpGet::Get, url: r.url.clone() }),
                    None => self.client_secret.clone().map(CustomerAction::client_secret),
                }
            }
            PaymentIntentStatus::RequiresPaymentMethod | PaymentIntentStatus::RequiresConfirmation => {
                match self.client_secret.clone() {
                    Some(client_secret) => Some(CustomerAction::client_secret(client_secret)),
                    None => {
                        return Err(Unreadable(
                            "client_secret: a PaymentIntent waiting for the customer must carry one".into(),
                        ));
                    }
                }
            }
            _ => None,
        };
        Ok(PaymentFacts {
            status: if expired { PaymentStatus::Expired } else { row.ours.clone() },
            provider_txn_id: Some(self.id),
            action,
            amount: Some(amount),
            refunded: None,
            paid_at: None,
        })
    }

    /// The most specific code of the last failed attempt, when the PaymentIntent went back to
    /// waiting for a payment method after a decline.
    pub fn last_decline(&self) -> Option<String> {
        let e = self.last_payment_error.as_ref()?;
        (self.status == PaymentIntentStatus::RequiresPaymentMethod && e.kind == "card_error")
            .then(|| codes::wire_code(402, &e.kind, e.code.as_deref(), e.decline_code.as_deref()))
    }
}

impl Refund {
    /// The refund in our terms, checked to be ours.
    pub fn into_facts(self, refund_no: &str) -> Result<RefundFacts, Unreadable> {
        match self.metadata.get(META_REFUND_NO) {
            Some(r) if r == refund_no => {}
            other => {
                return Err(Unreadable(format!(
                    "metadata.{META_REFUND_NO} must be our refund number {refund_no:?} (got {other:?})"
                )));
            }
        }
        let amount = money("amount", self.amount, &self.currency)?;
        Ok(RefundFacts {
            status: codes::refund_state(self.status).ours,
            provider_refund_id: Some(self.id),
            amount: Some(amount),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CaptureMode;
    use crate::domain::Payer;
    use crate::messages::commands::PayMethod;

    fn pay(minor: i64, currency: Currency) -> PayRequest {
        PayRequest {
            capture: Default::default(),
            trade_no: "0190a1b2c3d4e5f60718293a4b5c6d7e".into(),
            amount: Money::from_minor(minor, currency).unwrap(),
            subject: "tea & cake".into(),
            pay_method: PayMethod::ClientSecret,
            notify_url: None,
            return_url: None,
            expires_at: None,
            auth_code: None,
            payer: Payer::default(),
        }
    }

    #[test]
    fn the_create_form_is_bracketed_lower_case_minor_units_and_manual_capture_only_when_asked() {
        let body = create_form(&pay(1234, Currency::USD)).unwrap().encode();
        assert_eq!(
            body,
            "amount=1234&currency=usd&capture_method=automatic&automatic_payment_methods%5Benabled%5D=true&metadata%5Btrade_no%5D=0190a1b2c3d4e5f60718293a4b5c6d7e&description=tea+%26+cake"
        );
        assert!(!body.contains("manual"));
        // JPY is zero-decimal at Stripe and in ISO 4217: 500 yen is amount=500.
        assert!(
            create_form(&pay(500, Currency::JPY)).unwrap().encode().starts_with("amount=500&currency=jpy&")
        );
        assert_eq!(create_form(&pay(0, Currency::USD)).unwrap_err().field, "amount");
        let manual = PayRequest { capture: CaptureMode::Manual, ..pay(1234, Currency::USD) };
        assert!(create_form(&manual).unwrap().encode().contains("&capture_method=manual&"));
    }

    #[test]
    fn a_capture_form_takes_at_most_the_authorised_amount() {
        let usd = |m| Money::from_minor(m, Currency::USD).unwrap();
        let request =
            |amount| CaptureRequest { trade_no: "t1".into(), amount: usd(amount), authorized: usd(1000) };
        assert_eq!(capture_form(&request(400)).unwrap().encode(), "amount_to_capture=400");
        assert_eq!(capture_form(&request(1001)).unwrap_err().field, "amount");
        assert_eq!(capture_form(&request(0)).unwrap_err().field, "amount");
    }

    fn intent(status: &str, extra: &str) -> PaymentIntent {
        let body = format!(
            r#"{{"id":"pi_1","object":"payment_intent","amount":1234,"currency":"usd","status":"{status}","client_secret":"pi_1_secret_x","metadata":{{"trade_no":"t1"}}{extra}}}"#
        );
        read(&body, "a PaymentIntent").unwrap()
    }

    #[test]
    fn statuses_become_ours_with_the_customers_action() {
        let f = intent("requires_payment_method", "").into_facts("t1").unwrap();
        assert_eq!(f.status, PaymentStatus::WaitingForCustomer);
        assert_eq!(f.action, Some(CustomerAction::client_secret("pi_1_secret_x")));
        assert_eq!(f.amount, Some(Money::from_minor(1234, Currency::USD).unwrap()));
        let f = intent("requires_action", r#","next_action":{"type":"redirect_to_url","redirect_to_url":{"url":"https://hooks.stripe.com/3ds","return_url":"https://shop/r"}}"#)
            .into_facts("t1")
            .unwrap();
        assert_eq!(
            f.action,
            Some(CustomerAction::Redirect {
                method: HttpGet::Get,
                url: "https://hooks.stripe.com/3ds".into()
            })
        );
        assert_eq!(intent("processing", "").into_facts("t1").unwrap().status, PaymentStatus::Processing);
        assert_eq!(
            intent("requires_capture", "").into_facts("t1").unwrap().status,
            PaymentStatus::Authorized
        );
        assert_eq!(intent("canceled", "").into_facts("t1").unwrap().status, PaymentStatus::Closed);
        let released = intent("canceled", r#","cancellation_reason":"automatic""#).into_facts("t1").unwrap();
        assert_eq!(released.status, PaymentStatus::Expired, "Stripe's own release of an authorisation");
        let paid = intent("succeeded", "").into_facts("t1").unwrap();
        assert_eq!(
            (paid.status, paid.action, paid.provider_txn_id.as_deref()),
            (PaymentStatus::Succeeded, None, Some("pi_1"))
        );
        assert_eq!(intent("canceled", "").into_facts("t1").unwrap().status, PaymentStatus::Closed);
    }

    #[test]
    fn an_intent_about_another_trade_or_in_an_unknown_currency_is_unreadable() {
        let e = intent("succeeded", "").into_facts("t2").unwrap_err();
        assert!(e.0.contains("metadata.trade_no") && e.0.contains("\"t2\""), "{e}");
        let mut pi = intent("succeeded", "");
        pi.currency = "xxx".into();
        assert!(pi.into_facts("t1").unwrap_err().0.contains("currency"));
        let e = read::<PaymentIntent>(
            r#"{"id":"pi_1","amount":"12","currency":"usd","status":"succeeded"}"#,
            "a PaymentIntent",
        )
        .unwrap_err();
        assert!(e.0.contains("amount"), "{e}");
        assert!(
            read::<PaymentIntent>(r#"{"id":"pi_1","amount":1,"currency":"usd","status":"new_status"}"#, "x")
                .is_err()
        );
    }

    #[test]
    fn a_decline_is_read_from_the_last_payment_error() {
        let pi = intent(
            "requires_payment_method",
            r#","last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"no"}"#,
        );
        assert_eq!(pi.last_decline().as_deref(), Some("insufficient_funds"));
        assert_eq!(intent("requires_payment_method", "").last_decline(), None);
    }

    #[test]
    fn refunds_are_read_and_checked_to_be_ours() {
        let r: Refund = read(
            r#"{"id":"re_1","object":"refund","amount":500,"currency":"usd","status":"pending","payment_intent":"pi_1","metadata":{"refund_no":"r1"}}"#,
            "a refund",
        )
        .unwrap();
        let f = r.clone().into_facts("r1").unwrap();
        assert_eq!(
            (f.status, f.provider_refund_id.as_deref()),
            (crate::providers::RefundStatus::Processing, Some("re_1"))
        );
        assert!(r.into_facts("r2").is_err());
        let req = RefundRequest {
            trade_no: "t1".into(),
            refund_trade_no: "r1".into(),
            amount: Money::from_minor(500, Currency::USD).unwrap(),
            payment_amount: Money::from_minor(1234, Currency::USD).unwrap(),
            reason: Some("damaged".into()),
            notify_url: None,
        };
        assert_eq!(
            refund_form(&req, "pi_1").unwrap().encode(),
            "payment_intent=pi_1&amount=500&metadata%5Btrade_no%5D=t1&metadata%5Brefund_no%5D=r1&metadata%5Breason%5D=damaged"
        );
    }

    #[test]
    fn errors_are_read_with_their_param() {
        let e = ErrorObject::parse(r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline","message":"Your card was declined.","param":"payment_method"}}"#).unwrap();
        assert_eq!(e.describe(), "Your card was declined. (param payment_method)");
        assert!(ErrorObject::parse("<html>").is_err());
        assert_eq!(search_query("abc"), "metadata['trade_no']:'abc'");
    }
}
