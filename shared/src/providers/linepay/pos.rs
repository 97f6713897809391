//! LINE Pay's offline (POS) API v2: a one-time-key payment (the customer's "My Code", scanned at
//! the till: `PayMethod::Barcode` with the key as the `auth_code`), its check by order id, its
//! void (the reversal of an unfinished payment, as Alipay's cancel is) and its refund
//! (developers.line.biz, "LINE Pay Offline API reference"; PROVIDERS.md, "Offline / POS API v2").
//!
//! The v2 API signs nothing: every request carries `X-LINE-ChannelId` and the secret itself in
//! `X-LINE-ChannelSecret` (redacted in the exchange log), with `X-LINE-MerchantDeviceType` and,
//! when configured, `X-LINE-MerchantDeviceProfileId`. The one-time key is redacted from the
//! logged body.
//!
//! - pay: `POST /v2/payments/oneTimeKeys/pay` `{productName, amount, currency, orderId,
//!   oneTimeKey, capture}` (`capture: false` for a pay command's manual capture: the answer then
//!   means authorised, not paid). `1145` (the customer confirms on the phone) is an answer "in
//!   process", polled by the dispatcher's queries, and reversed after
//!   [`super::DEFAULT_REVERSE_AFTER`];
//! - a manual-capture payment is read ([`LinePayAdapter::pos_follow`]) from "retrieve
//!   confirmation information" (`GET /v2/payments/authorizations?orderId=`: held, voided or
//!   released, by `payStatus`), then "retrieve payment details" (`GET /v2/payments?orderId=`:
//!   captured), then the check (in process, failed, not found). The check alone never says
//!   captured for it: what the check answers for an authorisation is not published, and a
//!   `COMPLETE` listed by neither list is UNKNOWN;
//! - capture: `POST /v2/payments/orders/{orderId}/capture` `{amount, currency}` and void
//!   `POST /v2/payments/orders/{orderId}/void` of an authorisation, each only after the read
//!   above found it held; a payment captured, voided or released already is answered as read,
//!   and an answer saying it is not held is read back ([`codes::after_capture`]);
//! - check: `GET /v2/payments/orders/{orderId}/check`: `info.status` `COMPLETE` is paid, `FAIL`
//!   failed; any other status is UNKNOWN (the published status list beyond `COMPLETE` was not
//!   found: docs/providers/linepay.md); `1145` in process, `1150` no such payment;
//! - void (reverse): `POST /v2/payments/orders/{orderId}/void` for a payment not complete; a
//!   complete one is refunded in full (`POST /v2/payments/orders/{orderId}/refund` `{}`);
//! - refund: `POST /v2/payments/orders/{orderId}/refund` `{refundAmount}`.

use super::codes::{self, Meaning, PosStatus};
use super::transformers::{
    self, ConfirmInfo, ConfirmRequest, NotSendable, PayStatus, RefundInfo, Transaction, Unreadable,
};
use super::{
    Details, LinePayAdapter, MapPayment, Read, after, capture_answer, otherwise, paid_facts, undecided,
    unreadable,
};
use crate::domain::{AuthCode, CaptureMode, Currency};
use crate::providers::adapter::{CaptureRequest, PayRequest, RefundRequest, TradeRef};
use crate::providers::answers::{
    CallOutcome, Called, PaymentFacts, PaymentStatus, RefundFacts, RefundStatus, ReversalFacts,
    ReversalStatus,
};
use crate::providers::decided::Decided;
use crate::providers::exchange::Exchange;
use crate::providers::http::{OutboundRequest, json_body};
use reqwest::Method;
use serde::{Deserialize, Serialize};

/// `POST /v2/payments/oneTimeKeys/pay`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OneTimeKeyPay<'a> {
    product_name: String,
    amount: i64,
    currency: &'static str,
    order_id: &'a str,
    one_time_key: &'a str,
    capture: bool,
}

/// `info` of a POS check.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckInfo {
    status: String,
    #[serde(default)]
    transaction_id: Option<transformers::TxnId>,
    #[serde(default)]
    pay_info: Vec<transformers::PayInfo>,
}

/// "Retrieve confirmation information": the one-time-key payments confirmed (or voided) with
/// capture separated, by `payStatus`.
const AUTHORIZATIONS: &str = "/v2/payments/authorizations";
/// "Retrieve payment details": the captured (and refunded) one-time-key payments.
pub(super) const PAYMENTS: &str = "/v2/payments";

/// The one-time key's published lengths: 19 (JP), 18 (TW), 12 (TH, global).
pub const ONE_TIME_KEY_LENGTHS: [usize; 3] = [12, 18, 19];

/// A one-time key: digits of a published length. The refusal says the length only.
pub fn one_time_key_rule(key: &AuthCode) -> Result<(), crate::domain::ValidationError> {
    let k = key.expose();
    if ONE_TIME_KEY_LENGTHS.contains(&k.len()) && k.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(crate::domain::ValidationError::new(
            AuthCode::FIELD,
            format!("a LINE Pay one-time key is 12, 18 or 19 digits (got {} characters)", k.len()),
        ))
    }
}

fn paid(info: ConfirmInfo, currency: Currency) -> Result<PaymentFacts, Unreadable> {
    let whole = info.pay_info.iter().try_fold(0_i64, |s, p| s.checked_add(p.amount));
    let amount = match whole {
        Some(w) if !info.pay_info.is_empty() => Some(transformers::from_wire(w, currency)?),
        Some(_) => None,
        None => return Err(Unreadable("the pay infos' sum overflows".into())),
    };
    Ok(PaymentFacts {
        status: PaymentStatus::Succeeded,
        provider_txn_id: Some(info.transaction_id.0),
        action: None,
        amount,
        refunded: None,
        paid_at: None,
    })
}

impl LinePayAdapter {
    fn pos_headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (super::signing::CHANNEL_ID_HEADER.to_owned(), self.channel_id.clone()),
            (super::signing::CHANNEL_SECRET_HEADER.to_owned(), self.secret.expose().to_owned()),
            ("X-LINE-MerchantDeviceType".to_owned(), self.device_type.clone()),
        ];
        if let Some(id) = &self.device_profile_id {
            headers.push(("X-LINE-MerchantDeviceProfileId".to_owned(), id.clone()));
        }
        headers
    }

    async fn pos_call<T>(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<String>,
        decide: impl FnOnce(Read) -> Decided<T>,
    ) -> Called<T> {
        let url = format!("{}{path}", self.base_url);
        let headers = self.pos_headers();
        let sent = self.http.send(OutboundRequest { operation: op, method, url, headers, body }).await;
        let decided = match self.read(op, sent.end, self.timeout) {
            Ok(read) => decide(read),
            Err(undecided) => undecided,
        };
        decided.called(sent.draft)
    }

    /// Charges the customer's one-time key.
    pub(super) async fn pos_pay(&self, request: &PayRequest, key: &AuthCode) -> Called<PaymentFacts> {
        const OP: &str = "pay";
        let path = "/v2/payments/oneTimeKeys/pay";
        let manual = request.capture.is_manual();
        let body = one_time_key_rule(key)
            .map_err(|e| NotSendable { field: AuthCode::FIELD, rule: e.to_string() })
            .and_then(|()| transformers::to_wire(request.amount, "amount"))
            .map(|amount| {
                json_body(&OneTimeKeyPay {
                    product_name: request.subject.chars().take(4000).collect(),
                    amount,
                    currency: request.amount.currency().as_str(),
                    order_id: &request.trade_no,
                    one_time_key: key.expose(),
                    capture: !manual,
                })
            });
        let body = match body {
            Ok(b) => b,
            Err(why) => return self.refuse_locally(OP, Method::POST, path, &why),
        };
        let currency = request.amount.currency();
        let mut again = false;
        let paid = self
            .pos_call(OP, Method::POST, path, Some(body), |read| match read.meaning {
                Meaning::Done => match transformers::info::<ConfirmInfo>(&read.envelope, "the pay answer")
                    .and_then(|i| paid(i, currency))
                {
                    // Made with `capture: false`: confirmed as an authorisation, nothing taken yet.
                    Ok(facts) if manual => Decided::answer(
                        PaymentFacts {
                            status: PaymentStatus::Authorized,
                            amount: facts.amount.or(Some(request.amount)),
                            ..facts
                        },
                        read.code,
                    ),
                    Ok(facts) => Decided::answer(facts, read.code),
                    Err(e) => unreadable(OP, &read.code, e),
                },
                // The customer confirms on the phone: in process, polled.
                Meaning::InProcess => {
                    Decided::answer(PaymentFacts::status(PaymentStatus::Processing), read.code)
                }
                Meaning::Declined | Meaning::Expired => {
                    Decided::answer(PaymentFacts::status(PaymentStatus::Failed), read.code)
                }
                // Our order id is used: by our own earlier pay, which got through: read it back.
                Meaning::AlreadyDone => {
                    again = true;
                    undecided(OP, read.code)
                }
                _ => otherwise(OP, read),
            })
            .await;
        if !again {
            return paid;
        }
        let trade = TradeRef {
            pay_method: Some(request.pay_method),
            capture: request.capture,
            ..TradeRef::new(request.trade_no.clone(), request.amount)
        };
        let mut read_back = self.pos_follow("query", &trade).await;
        // "Not found" after LINE Pay said the order id is used proves nothing: the repeat stays
        // UNKNOWN (queried), never closed.
        if matches!(&read_back.outcome, CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::NotFound)
        {
            read_back.outcome = paid.outcome;
        }
        after(read_back, vec![paid.exchange])
    }

    /// The POS payment of `trade.trade_no`, by `GET /v2/payments/orders/{orderId}/check`.
    pub(super) async fn pos_check(&self, op: &'static str, trade: &TradeRef) -> Called<PaymentFacts> {
        let path = format!("/v2/payments/orders/{}/check", trade.trade_no);
        let currency = trade.currency();
        self.pos_call(op, Method::GET, &path, None, |read| match read.meaning {
            Meaning::Done => match transformers::info::<CheckInfo>(&read.envelope, "the check answer") {
                Ok(info) => match codes::pos_status(&info.status) {
                    Some(PosStatus::Complete) => {
                        let confirm = ConfirmInfo {
                            transaction_id: match info.transaction_id {
                                Some(t) => t,
                                None => {
                                    return unreadable(
                                        op,
                                        &read.code,
                                        Unreadable("COMPLETE without a transactionId".into()),
                                    );
                                }
                            },
                            order_id: None,
                            pay_info: info.pay_info,
                            authorization_expire_date: None,
                        };
                        match paid(confirm, currency) {
                            Ok(facts) => Decided::answer(facts, read.code),
                            Err(e) => unreadable(op, &read.code, e),
                        }
                    }
                    Some(PosStatus::Fail) => Decided::answer(
                        PaymentFacts::status(PaymentStatus::Failed),
                        codes::pos_code(&info.status, &read.envelope.return_message),
                    ),
                    None => unreadable(
                        op,
                        &read.code,
                        Unreadable(format!("the check's status {:?} is not one paygate knows", info.status)),
                    ),
                },
                Err(e) => unreadable(op, &read.code, e),
            },
            Meaning::InProcess => Decided::answer(PaymentFacts::status(PaymentStatus::Processing), read.code),
            Meaning::NotFound => Decided::answer(PaymentFacts::status(PaymentStatus::NotFound), read.code),
            _ => otherwise(op, read),
        })
        .await
    }

    /// Reverses a one-time-key payment that did not finish in time: void if it is not complete,
    /// a full refund if it is.
    pub(super) async fn pos_reverse(&self, trade_no: &str, currency: Currency) -> Called<ReversalFacts> {
        const OP: &str = "reverse";
        let zero = match crate::domain::Money::from_minor(0, currency) {
            Ok(z) => z,
            Err(e) => {
                let why = NotSendable { field: "currency", rule: e.to_string() };
                return self.refuse_locally(OP, Method::POST, "/v2/payments/orders/{orderId}/void", &why);
            }
        };
        let checked = self.pos_check(OP, &TradeRef::new(trade_no, zero)).await;
        let (refund, txn) = match &checked.outcome {
            CallOutcome::Answer { facts, code } if facts.status == PaymentStatus::NotFound => {
                let facts = ReversalFacts { status: ReversalStatus::NotFound, provider_txn_id: None };
                let outcome = CallOutcome::Answer { facts, code: code.clone() };
                return Called { outcome, exchange: checked.exchange, earlier: checked.earlier };
            }
            CallOutcome::Answer { facts, .. } => {
                (facts.status == PaymentStatus::Succeeded, facts.provider_txn_id.clone())
            }
            // The check did not answer: void anyway (a void of a complete payment is refused).
            _ => (false, None),
        };
        // A complete one made with `capture: false` may be an authorisation still held (the check
        // does not tell): that is voided, not refunded.
        let mut before = vec![checked.exchange];
        let refund = if refund {
            let trade = TradeRef { capture: CaptureMode::Manual, ..TradeRef::new(trade_no, zero) };
            let held = self.pos_list(OP, AUTHORIZATIONS, &trade).await;
            before.extend(held.earlier);
            before.push(held.exchange);
            !matches!(&held.outcome, CallOutcome::Answer { facts: Details::Paid(t), .. }
                if transformers::pay_status(t.pay_status.as_deref()) == Some(PayStatus::Authorized))
        } else {
            refund
        };
        let (path, body) = if refund {
            (format!("/v2/payments/orders/{trade_no}/refund"), "{}".to_owned())
        } else {
            (format!("/v2/payments/orders/{trade_no}/void"), "{}".to_owned())
        };
        let status = if refund { ReversalStatus::Refunded } else { ReversalStatus::Closed };
        let reversed = self
            .pos_call(OP, Method::POST, &path, Some(body), |read| match read.meaning {
                Meaning::Done => Decided::answer(ReversalFacts { status, provider_txn_id: txn }, read.code),
                Meaning::NotFound => Decided::answer(
                    ReversalFacts { status: ReversalStatus::NotFound, provider_txn_id: None },
                    read.code,
                ),
                // Still in process, or busy: send the reversal again later.
                Meaning::InProcess | Meaning::RetryLater => Decided::retry_later(read.code),
                _ => undecided(OP, read.code),
            })
            .await;
        after(reversed, before)
    }

    /// Refunds a one-time-key payment by its order id.
    pub(super) async fn pos_refund(
        &self,
        request: &RefundRequest,
        earlier: Vec<crate::providers::exchange::Exchange>,
    ) -> Called<RefundFacts> {
        const OP: &str = "refund";
        let path = format!("/v2/payments/orders/{}/refund", request.trade_no);
        let amount = match transformers::to_wire(request.amount, "amount") {
            Ok(a) => a,
            Err(why) => return self.refuse_locally(OP, Method::POST, &path, &why),
        };
        let body = json_body(&transformers::RefundRequestBody { refund_amount: amount });
        let refunded = self
            .pos_call(OP, Method::POST, &path, Some(body), |read| match read.meaning {
                Meaning::Done => {
                    match transformers::info::<RefundInfo>(&read.envelope, "the refund answer") {
                        Ok(info) => Decided::answer(
                            RefundFacts {
                                status: RefundStatus::Succeeded,
                                provider_refund_id: Some(info.refund_transaction_id.0),
                                amount: Some(request.amount),
                            },
                            read.code,
                        ),
                        Err(e) => unreadable(OP, &read.code, e),
                    }
                }
                _ => otherwise(OP, read),
            })
            .await;
        after(refunded, earlier)
    }
}

impl LinePayAdapter {
    /// `GET {path}?orderId=…` (the authorisations or the payment details of the offline API): our
    /// order's payment in the list, or nothing.
    pub(super) async fn pos_list(&self, op: &'static str, path: &str, trade: &TradeRef) -> Called<Details> {
        let url_path = format!("{path}?orderId={}", trade.trade_no);
        let trade_no = trade.trade_no.clone();
        self.pos_call(op, Method::GET, &url_path, None, |read| match read.meaning {
            Meaning::Done => {
                let list = match transformers::info::<Vec<Transaction>>(&read.envelope, "the payment list") {
                    Ok(list) => list,
                    Err(e) => return unreadable(op, &read.code, e),
                };
                match transformers::payment_of(list, &trade_no) {
                    Ok(Some(t)) => Decided::answer(Details::Paid(Box::new(t)), read.code),
                    Ok(None) => Decided::answer(Details::Nothing(read.code.clone()), read.code),
                    Err(e) => unreadable(op, &read.code, e),
                }
            }
            Meaning::NotFound => Decided::answer(Details::Nothing(read.code.clone()), read.code),
            _ => otherwise(op, read),
        })
        .await
    }

    /// A one-time-key payment as LINE Pay knows it. One made with `capture: false`
    /// (`trade.capture` manual) is read from the authorisations (held, voided, released), then
    /// the payment details (captured), then the check (in process, failed, not found); a check
    /// that says complete for a payment neither list shows is UNKNOWN (what the check answers for
    /// an authorisation is not published: it is never read as a capture). Any other is read
    /// from the check.
    pub(super) async fn pos_follow(&self, op: &'static str, trade: &TradeRef) -> Called<PaymentFacts> {
        if !trade.capture.is_manual() {
            return self.pos_check(op, trade).await;
        }
        let mut before: Vec<Exchange> = Vec::new();
        for path in [AUTHORIZATIONS, PAYMENTS] {
            let listed = self.pos_list(op, path, trade).await;
            match listed.outcome {
                CallOutcome::Answer { facts: Details::Paid(t), code } => {
                    let outcome = match paid_facts(&t, trade) {
                        Ok(facts) => CallOutcome::Answer { facts, code },
                        Err(e) => CallOutcome::Unknown { reason: format!("{op}: {}", e.0), code: Some(code) },
                    };
                    let called = Called { outcome, exchange: listed.exchange, earlier: listed.earlier };
                    return after(called, before);
                }
                CallOutcome::Answer { facts: Details::Nothing(_), .. } => {
                    before.extend(listed.earlier);
                    before.push(listed.exchange);
                }
                other => {
                    let called = Called {
                        outcome: other.map_payment(),
                        exchange: listed.exchange,
                        earlier: listed.earlier,
                    };
                    return after(called, before);
                }
            }
        }
        let mut checked = self.pos_check(op, trade).await;
        if let CallOutcome::Answer { facts, code } = &checked.outcome
            && facts.status == PaymentStatus::Succeeded
        {
            checked.outcome = CallOutcome::Unknown {
                reason: format!(
                    "LINE Pay's check says the payment of order {} is complete, but it is listed neither as an \
                         authorisation nor as a captured payment (yet)",
                    trade.trade_no
                ),
                code: Some(code.clone()),
            };
        }
        after(checked, before)
    }

    /// Captures `amount` (whole units) of a one-time-key authorisation: read first
    /// ([`LinePayAdapter::pos_follow`]); only one still held gets
    /// `POST /v2/payments/orders/{orderId}/capture`.
    pub(super) async fn pos_capture(
        &self,
        request: &CaptureRequest,
        amount: i64,
        before: Vec<Exchange>,
    ) -> Called<PaymentFacts> {
        let trade = TradeRef {
            capture: CaptureMode::Manual,
            ..TradeRef::new(request.trade_no.clone(), request.authorized)
        };
        let path = format!("/v2/payments/orders/{}/capture", trade.trade_no);
        let body = json_body(&ConfirmRequest { amount, currency: trade.currency().as_str() });
        self.on_pos_authorization("capture", &trade, path, Some(body), PaymentStatus::Succeeded, before).await
    }

    /// Voids (releases) a one-time-key authorisation, read first as [`LinePayAdapter::pos_capture`].
    pub(super) async fn pos_void(&self, trade: &TradeRef, before: Vec<Exchange>) -> Called<PaymentFacts> {
        let path = format!("/v2/payments/orders/{}/void", trade.trade_no);
        self.on_pos_authorization("void", trade, path, None, PaymentStatus::Closed, before).await
    }

    /// The read, then (for an authorisation held) the capture or void, read through
    /// [`codes::after_capture`]: done, refused, later, unknown, or read back.
    async fn on_pos_authorization(
        &self,
        op: &'static str,
        trade: &TradeRef,
        path: String,
        body: Option<String>,
        done: PaymentStatus,
        mut before: Vec<Exchange>,
    ) -> Called<PaymentFacts> {
        let read = self.pos_follow(op, trade).await;
        let held = match &read.outcome {
            CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::Authorized => facts.clone(),
            // Captured, voided, released, not found, or not read: answered as it is, nothing sent.
            _ => return after(read, before),
        };
        before.extend(read.earlier);
        before.push(read.exchange);
        // The payment's (authorised) amount: the dispatcher records the capture's amount from its
        // own request.
        let facts = PaymentFacts { status: done, amount: held.amount, ..held };
        let mut again = false;
        let sent = self
            .pos_call(op, Method::POST, &path, body, |read| capture_answer(op, read, facts, &mut again))
            .await;
        if !again {
            return after(sent, before);
        }
        before.push(sent.exchange);
        after(self.pos_follow("query", trade).await, before)
    }
}
