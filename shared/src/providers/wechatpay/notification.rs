//! WeChat Pay API v3 notifications (回调通知): verify the signed body, decrypt its `resource`,
//! and read the transaction or refund inside into typed form. Not wired into notify-handler yet.
//!
//! - Headers: `Wechatpay-Serial`, `-Timestamp`, `-Nonce`, `-Signature` (and optionally
//!   `-Signature-Type`), verified by [`signing::verify`] over the exact raw body first.
//! - Body: `{id, create_time, resource_type: "encrypt-resource", event_type, summary,
//!   resource: {original_type, algorithm: "AEAD_AES_256_GCM", ciphertext, nonce,
//!   associated_data}}`. Event types we take: `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`,
//!   `REFUND.ABNORMAL`, `REFUND.CLOSED`.
//! - `resource` is AES-256-GCM: key = the APIv3 key, nonce = `resource.nonce` (12 bytes), AAD =
//!   `resource.associated_data` (empty when absent), ciphertext = Base64 of the encrypted bytes
//!   followed by the 16-byte tag.
//! - The plaintext is a transaction (`out_trade_no, transaction_id, trade_state,
//!   amount{total, payer_total, currency}, mchid, appid, success_time`) or a refund
//!   (`out_refund_no, refund_id, refund_status, amount{refund, total}`, …). Amounts are integer
//!   fen. `mchid` (and a transaction's `appid`) must be ours, and the state must be the one the
//!   event type announces.
//! - Acknowledgement: 204 (200 also works) with no body; a failure is 4xx/5xx with
//!   `{"code":"FAIL","message":"…"}`, and WeChat Pay retries.
//!
//! Every refusal is a [`RejectReason`] naming the field (`resource.ciphertext`,
//! `resource.amount.total`, …) and the rule broken. Unknown fields are tolerated.

use super::signing::{self, ApiV3Key, PlatformKeys, SignedHeaders, VerifyError};
use crate::providers::notification::{Acknowledgement, ClaimedEvent, RejectReason};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, FixedOffset, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The only `resource_type` WeChat Pay sends.
pub const RESOURCE_TYPE: &str = "encrypt-resource";
/// The only `resource.algorithm` we decrypt.
pub const ALGORITHM: &str = "AEAD_AES_256_GCM";
/// AES-GCM's nonce length, in bytes.
pub const NONCE_LEN: usize = 12;
/// AES-GCM's tag length, in bytes, at the end of the ciphertext.
pub const TAG_LEN: usize = 16;
/// The media type notifications are posted with.
pub const CONTENT_TYPE: &str = "application/json";
/// The longest notification id we keep (WeChat Pay documents 36).
const MAX_ID_CHARS: usize = 64;
/// WeChat Pay takes at most 64 characters of a failure's `message`.
const MAX_FAILURE_MESSAGE_CHARS: usize = 64;

/// A notification's `event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    TransactionSuccess,
    RefundSuccess,
    RefundAbnormal,
    RefundClosed,
}

impl EventType {
    pub const ALL: [EventType; 4] =
        [Self::TransactionSuccess, Self::RefundSuccess, Self::RefundAbnormal, Self::RefundClosed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransactionSuccess => "TRANSACTION.SUCCESS",
            Self::RefundSuccess => "REFUND.SUCCESS",
            Self::RefundAbnormal => "REFUND.ABNORMAL",
            Self::RefundClosed => "REFUND.CLOSED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The `resource.original_type` this event carries.
    pub fn original_type(self) -> &'static str {
        match self {
            Self::TransactionSuccess => "transaction",
            _ => "refund",
        }
    }

    /// What the event claims, in our terms.
    pub fn claimed(self) -> ClaimedEvent {
        match self {
            Self::TransactionSuccess => ClaimedEvent::PaymentSucceeded,
            Self::RefundSuccess => ClaimedEvent::RefundSucceeded,
            Self::RefundAbnormal | Self::RefundClosed => ClaimedEvent::RefundFailed,
        }
    }
}

/// A transaction's `trade_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeState {
    /// 支付成功
    Success,
    /// 转入退款
    Refund,
    /// 未支付
    NotPay,
    /// 已关闭
    Closed,
    /// 已撤销 (payment-code payments)
    Revoked,
    /// 用户支付中 (payment-code payments)
    UserPaying,
    /// 支付失败
    PayError,
}

impl TradeState {
    pub const ALL: [TradeState; 7] = [
        Self::Success,
        Self::Refund,
        Self::NotPay,
        Self::Closed,
        Self::Revoked,
        Self::UserPaying,
        Self::PayError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Refund => "REFUND",
            Self::NotPay => "NOTPAY",
            Self::Closed => "CLOSED",
            Self::Revoked => "REVOKED",
            Self::UserPaying => "USERPAYING",
            Self::PayError => "PAYERROR",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// A refund's `refund_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    /// 退款成功
    Success,
    /// 退款关闭
    Closed,
    /// 退款处理中
    Processing,
    /// 退款异常 (the money could not reach the payer; the merchant must act)
    Abnormal,
}

impl RefundState {
    pub const ALL: [RefundState; 4] = [Self::Success, Self::Closed, Self::Processing, Self::Abnormal];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Closed => "CLOSED",
            Self::Processing => "PROCESSING",
            Self::Abnormal => "ABNORMAL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// The notification body, as sent (before decryption).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Envelope {
    pub id: String,
    pub create_time: String,
    pub resource_type: String,
    pub event_type: String,
    #[serde(default)]
    pub summary: String,
    pub resource: EncryptedResource,
}

/// `resource`: the encrypted transaction or refund.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct EncryptedResource {
    pub original_type: String,
    pub algorithm: String,
    pub ciphertext: String,
    pub nonce: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_data: Option<String>,
}

/// A decrypted transaction (`original_type` `transaction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub mchid: String,
    pub appid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub trade_state: TradeState,
    pub success_time: Option<DateTime<FixedOffset>>,
    /// The order amount, in fen.
    pub total: i64,
    /// What the payer paid, in fen (less than `total` when a coupon paid part).
    pub payer_total: Option<i64>,
    pub currency: String,
}

/// A decrypted refund (`original_type` `refund`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub mchid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_status: RefundState,
    pub success_time: Option<DateTime<FixedOffset>>,
    /// The refund's amount, in fen.
    pub refund: i64,
    /// The original order's amount, in fen.
    pub total: i64,
}

/// What the resource was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Transaction(Transaction),
    Refund(Refund),
}

/// A notification that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatNotification {
    pub id: String,
    pub create_time: DateTime<FixedOffset>,
    pub event_type: EventType,
    pub summary: String,
    pub resource: Resource,
}

impl WechatNotification {
    pub fn claimed(&self) -> ClaimedEvent {
        self.event_type.claimed()
    }
}

/// Reads WeChat Pay notifications for one merchant (and app). Holds the platform public keys and
/// the APIv3 key: no key that signs requests, so it cannot move money.
#[derive(Debug, Clone)]
pub struct WechatpayNotifications {
    mchid: String,
    appid: String,
    platform_keys: PlatformKeys,
    apiv3_key: ApiV3Key,
    window_secs: i64,
}

impl WechatpayNotifications {
    pub fn new(
        mchid: impl Into<String>,
        appid: impl Into<String>,
        platform_keys: PlatformKeys,
        apiv3_key: ApiV3Key,
    ) -> Self {
        Self {
            mchid: mchid.into(),
            appid: appid.into(),
            platform_keys,
            apiv3_key,
            window_secs: signing::DEFAULT_WINDOW_SECS,
        }
    }

    /// How far `Wechatpay-Timestamp` may be from our clock (default 300 s).
    pub fn with_window_secs(mut self, window_secs: i64) -> Self {
        self.window_secs = window_secs;
        self
    }

    /// Checks the signature and the timestamp window against `now`, then reads and decrypts the
    /// body.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WechatNotification, RejectReason> {
        let signed = SignedHeaders::from_headers(headers).map_err(reject_of)?;
        signing::verify(&self.platform_keys, &signed, body, now, self.window_secs).map_err(reject_of)?;
        self.parse(body)
    }

    /// Reads and decrypts a body whose signature was verified before (a stored notification).
    pub fn parse(&self, body: &[u8]) -> Result<WechatNotification, RejectReason> {
        let envelope: Envelope = from_json(body, "")?;
        let id = envelope.id.trim();
        if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
            return Err(RejectReason::malformed("id", format!("must be 1 to {MAX_ID_CHARS} characters")));
        }
        let create_time = DateTime::parse_from_rfc3339(&envelope.create_time).map_err(|_| {
            RejectReason::malformed(
                "create_time",
                "must be an RFC 3339 time such as 2026-01-01T08:00:00+08:00",
            )
        })?;
        if envelope.resource_type != RESOURCE_TYPE {
            return Err(RejectReason::malformed(
                "resource_type",
                format!("must be {RESOURCE_TYPE} (got {:?})", envelope.resource_type),
            ));
        }
        let event_type = EventType::parse(&envelope.event_type).ok_or_else(|| {
            RejectReason::malformed(
                "event_type",
                format!(
                    "must be one of {} (got {:?})",
                    EventType::ALL.map(EventType::as_str).join(", "),
                    envelope.event_type
                ),
            )
        })?;
        if envelope.resource.original_type != event_type.original_type() {
            return Err(RejectReason::malformed(
                "resource.original_type",
                format!(
                    "must be {} for {} (got {:?})",
                    event_type.original_type(),
                    event_type.as_str(),
                    envelope.resource.original_type
                ),
            ));
        }
        let plaintext = decrypt_resource(&self.apiv3_key, &envelope.resource)?;
        let resource = match event_type {
            EventType::TransactionSuccess => {
                let t = parse_transaction(&plaintext)?;
                self.check_account(&t.mchid, Some(&t.appid))?;
                expect_state(
                    "resource.trade_state",
                    t.trade_state.as_str(),
                    TradeState::Success.as_str(),
                    event_type,
                )?;
                Resource::Transaction(t)
            }
            EventType::RefundSuccess | EventType::RefundAbnormal | EventType::RefundClosed => {
                let r = parse_refund(&plaintext)?;
                self.check_account(&r.mchid, None)?;
                let expected = match event_type {
                    EventType::RefundSuccess => RefundState::Success,
                    EventType::RefundAbnormal => RefundState::Abnormal,
                    _ => RefundState::Closed,
                };
                expect_state(
                    "resource.refund_status",
                    r.refund_status.as_str(),
                    expected.as_str(),
                    event_type,
                )?;
                Resource::Refund(r)
            }
        };
        Ok(WechatNotification {
            id: id.to_owned(),
            create_time,
            event_type,
            summary: envelope.summary,
            resource,
        })
    }

    fn check_account(&self, mchid: &str, appid: Option<&str>) -> Result<(), RejectReason> {
        if mchid != self.mchid {
            return Err(RejectReason::malformed(
                "resource.mchid",
                format!("must be our merchant id {:?} (got {mchid:?})", self.mchid),
            ));
        }
        if let Some(appid) = appid
            && appid != self.appid
        {
            return Err(RejectReason::malformed(
                "resource.appid",
                format!("must be our app id {:?} (got {appid:?})", self.appid),
            ));
        }
        Ok(())
    }

    /// The answer that acknowledges a notification: 204, no body.
    pub fn acknowledgement(&self) -> Acknowledgement {
        acknowledgement()
    }

    /// The answer to a notification we could not take, so WeChat Pay retries.
    pub fn failure(&self, status: u16, message: &str) -> Acknowledgement {
        failure(status, message)
    }
}

fn expect_state(field: &str, got: &str, expected: &str, event: EventType) -> Result<(), RejectReason> {
    if got != expected {
        return Err(RejectReason::malformed(
            field,
            format!("must be {expected} for event_type {} (got {got})", event.as_str()),
        ));
    }
    Ok(())
}

/// A signature refusal in the webhook's terms: 401 for every one of them.
pub fn reject_of(e: VerifyError) -> RejectReason {
    match e {
        VerifyError::MissingHeader(h) => RejectReason::MissingHeader(h),
        VerifyError::Stale { got, now, window_secs } => RejectReason::StaleTimestamp {
            header: signing::HEADER_TIMESTAMP,
            window_secs,
            got: got.to_string(),
            now,
        },
        other => RejectReason::BadSignature(other.to_string()),
    }
}

/// Decrypts `resource` with the APIv3 key: AES-256-GCM, nonce `resource.nonce`, AAD
/// `resource.associated_data`, Base64 `resource.ciphertext` ending with the 16-byte tag. Returns
/// the plaintext (UTF-8 JSON).
pub fn decrypt_resource(key: &ApiV3Key, resource: &EncryptedResource) -> Result<String, RejectReason> {
    if resource.algorithm != ALGORITHM {
        return Err(RejectReason::malformed(
            "resource.algorithm",
            format!("must be {ALGORITHM} (got {:?})", resource.algorithm),
        ));
    }
    let nonce = Nonce::try_from(resource.nonce.as_bytes()).map_err(|_| {
        RejectReason::malformed(
            "resource.nonce",
            format!("must be {NONCE_LEN} bytes (got {})", resource.nonce.len()),
        )
    })?;
    let sealed = BASE64.decode(resource.ciphertext.as_bytes()).map_err(|e| {
        RejectReason::malformed("resource.ciphertext", format!("must be standard Base64 ({e})"))
    })?;
    if sealed.len() < TAG_LEN {
        return Err(RejectReason::malformed(
            "resource.ciphertext",
            format!("must be at least the {TAG_LEN}-byte tag (got {} bytes)", sealed.len()),
        ));
    }
    let aad = resource.associated_data.as_deref().unwrap_or("");
    let cipher = Aes256Gcm::new(key.bytes().into());
    let plain = cipher.decrypt(&nonce, Payload { msg: &sealed, aad: aad.as_bytes() }).map_err(|_| {
        RejectReason::malformed(
            "resource.ciphertext",
            "must decrypt and authenticate with AES-256-GCM under the APIv3 key, resource.nonce and \
             resource.associated_data (wrong key, or one of them altered)",
        )
    })?;
    String::from_utf8(plain)
        .map_err(|_| RejectReason::malformed("resource.ciphertext", "must decrypt to UTF-8 JSON"))
}

/// Seals `plaintext` as WeChat Pay does for a notification's `resource` (the inverse of
/// [`decrypt_resource`]): AES-256-GCM under the APIv3 key, `nonce` (12 bytes) and `aad`. For the
/// simulators and the tests, which play WeChat Pay.
pub fn seal_resource(
    key: &ApiV3Key,
    original_type: &str,
    plaintext: &str,
    nonce: &str,
    aad: &str,
) -> EncryptedResource {
    let cipher = Aes256Gcm::new(key.bytes().into());
    let sealed = Nonce::try_from(nonce.as_bytes())
        .ok()
        .and_then(|n| cipher.encrypt(&n, Payload { msg: plaintext.as_bytes(), aad: aad.as_bytes() }).ok())
        .expect("a 12-byte nonce (AES-GCM encryption itself cannot fail on a message this size)");
    EncryptedResource {
        original_type: original_type.to_owned(),
        algorithm: ALGORITHM.to_owned(),
        ciphertext: BASE64.encode(sealed),
        nonce: nonce.to_owned(),
        associated_data: Some(aad.to_owned()),
    }
}

#[derive(Deserialize)]
struct WireTransaction {
    mchid: String,
    appid: String,
    out_trade_no: String,
    transaction_id: String,
    trade_state: String,
    #[serde(default)]
    success_time: Option<String>,
    amount: WireTransactionAmount,
}

#[derive(Deserialize)]
struct WireTransactionAmount {
    total: i64,
    #[serde(default)]
    payer_total: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Deserialize)]
struct WireRefund {
    mchid: String,
    out_trade_no: String,
    transaction_id: String,
    out_refund_no: String,
    refund_id: String,
    refund_status: String,
    #[serde(default)]
    success_time: Option<String>,
    amount: WireRefundAmount,
}

#[derive(Deserialize)]
struct WireRefundAmount {
    total: i64,
    refund: i64,
}

/// Reads a decrypted transaction. Field names in errors start with `resource.`.
pub fn parse_transaction(plaintext: &str) -> Result<Transaction, RejectReason> {
    let w: WireTransaction = from_json(plaintext.as_bytes(), "resource.")?;
    for (field, value) in [
        ("resource.mchid", &w.mchid),
        ("resource.appid", &w.appid),
        ("resource.out_trade_no", &w.out_trade_no),
        ("resource.transaction_id", &w.transaction_id),
    ] {
        non_empty(field, value)?;
    }
    let trade_state = TradeState::parse(&w.trade_state).ok_or_else(|| {
        RejectReason::malformed(
            "resource.trade_state",
            format!(
                "must be one of {} (got {:?})",
                TradeState::ALL.map(TradeState::as_str).join(", "),
                w.trade_state
            ),
        )
    })?;
    let total = fen("resource.amount.total", w.amount.total, 1)?;
    let payer_total = w.amount.payer_total.map(|p| fen("resource.amount.payer_total", p, 0)).transpose()?;
    if let Some(p) = payer_total
        && p > total
    {
        return Err(RejectReason::malformed(
            "resource.amount.payer_total",
            format!("must not exceed resource.amount.total ({p} > {total})"),
        ));
    }
    let currency = w.amount.currency.unwrap_or_else(|| "CNY".to_owned());
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(RejectReason::malformed(
            "resource.amount.currency",
            format!("must be an ISO 4217 code such as CNY (got {currency:?})"),
        ));
    }
    let success_time = time_field("resource.success_time", w.success_time)?;
    if trade_state == TradeState::Success && success_time.is_none() {
        return Err(RejectReason::malformed(
            "resource.success_time",
            "is required when trade_state is SUCCESS",
        ));
    }
    Ok(Transaction {
        mchid: w.mchid,
        appid: w.appid,
        out_trade_no: w.out_trade_no,
        transaction_id: w.transaction_id,
        trade_state,
        success_time,
        total,
        payer_total,
        currency,
    })
}

/// Reads a decrypted refund. Field names in errors start with `resource.`.
pub fn parse_refund(plaintext: &str) -> Result<Refund, RejectReason> {
    let w: WireRefund = from_json(plaintext.as_bytes(), "resource.")?;
    for (field, value) in [
        ("resource.mchid", &w.mchid),
        ("resource.out_trade_no", &w.out_trade_no),
        ("resource.transaction_id", &w.transaction_id),
        ("resource.out_refund_no", &w.out_refund_no),
        ("resource.refund_id", &w.refund_id),
    ] {
        non_empty(field, value)?;
    }
    let refund_status = RefundState::parse(&w.refund_status).ok_or_else(|| {
        RejectReason::malformed(
            "resource.refund_status",
            format!(
                "must be one of {} (got {:?})",
                RefundState::ALL.map(RefundState::as_str).join(", "),
                w.refund_status
            ),
        )
    })?;
    let total = fen("resource.amount.total", w.amount.total, 1)?;
    let refund = fen("resource.amount.refund", w.amount.refund, 1)?;
    if refund > total {
        return Err(RejectReason::malformed(
            "resource.amount.refund",
            format!("must not exceed resource.amount.total ({refund} > {total})"),
        ));
    }
    let success_time = time_field("resource.success_time", w.success_time)?;
    if refund_status == RefundState::Success && success_time.is_none() {
        return Err(RejectReason::malformed(
            "resource.success_time",
            "is required when refund_status is SUCCESS",
        ));
    }
    Ok(Refund {
        mchid: w.mchid,
        out_trade_no: w.out_trade_no,
        transaction_id: w.transaction_id,
        out_refund_no: w.out_refund_no,
        refund_id: w.refund_id,
        refund_status,
        success_time,
        refund,
        total,
    })
}

/// The acknowledgement WeChat Pay takes as "received": 204 with no body.
pub fn acknowledgement() -> Acknowledgement {
    Acknowledgement { status: 204, content_type: CONTENT_TYPE, body: String::new() }
}

/// A failure answer: `status` if it is 4xx or 5xx (500 otherwise), with
/// `{"code":"FAIL","message":"…"}`; the message is cut to WeChat Pay's 64 characters and never
/// empty.
pub fn failure(status: u16, message: &str) -> Acknowledgement {
    let status = if (400..600).contains(&status) { status } else { 500 };
    let mut message: String = message.chars().take(MAX_FAILURE_MESSAGE_CHARS).collect();
    if message.trim().is_empty() {
        message = "FAIL".to_owned();
    }
    let body = serde_json::json!({ "code": "FAIL", "message": message }).to_string();
    Acknowledgement { status, content_type: CONTENT_TYPE, body }
}

/// Deserialises JSON, naming the failing field (with `prefix`) in the refusal.
fn from_json<T: DeserializeOwned>(body: &[u8], prefix: &str) -> Result<T, RejectReason> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // serde names a missing field in its message, not its path.
        if let Some(rest) = message.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or("");
            let field =
                if path == "." { format!("{prefix}{name}") } else { format!("{prefix}{path}.{name}") };
            return RejectReason::malformed(field, "is required");
        }
        let whole =
            || if prefix.is_empty() { "body".to_owned() } else { prefix.trim_end_matches('.').to_owned() };
        if inner.is_syntax() || inner.is_eof() {
            // The path of a syntax error is where parsing stopped, not a field.
            return RejectReason::malformed(whole(), format!("must be JSON ({message})"));
        }
        let field = if path == "." { whole() } else { format!("{prefix}{path}") };
        RejectReason::malformed(field, format!("has the wrong type ({message}); amounts are integer fen"))
    })
}

fn non_empty(field: &str, value: &str) -> Result<(), RejectReason> {
    if value.trim().is_empty() {
        return Err(RejectReason::malformed(field, "must not be empty"));
    }
    Ok(())
}

fn fen(field: &str, value: i64, min: i64) -> Result<i64, RejectReason> {
    if value < min {
        return Err(RejectReason::malformed(field, format!("must be at least {min} fen (got {value})")));
    }
    Ok(value)
}

fn time_field(field: &str, value: Option<String>) -> Result<Option<DateTime<FixedOffset>>, RejectReason> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v).map(Some).map_err(|_| {
            RejectReason::malformed(
                field,
                format!("must be an RFC 3339 time such as 2026-01-01T08:00:05+08:00 (got {v:?})"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::vectors::{self, Vectors};
    use super::*;
    use axum::http::{HeaderName, HeaderValue};
    use serde_json::{Value, json};

    fn v() -> &'static Vectors {
        vectors::load()
    }

    fn platform() -> PlatformKeys {
        let mut keys = PlatformKeys::new();
        for p in &v().platform {
            keys.insert_pem(&p.serial, &p.public_key_pem).unwrap();
        }
        keys
    }

    fn apiv3() -> ApiV3Key {
        ApiV3Key::new(&v().apiv3_key).unwrap()
    }

    fn reader() -> WechatpayNotifications {
        WechatpayNotifications::new(&v().mchid, &v().appid, platform(), apiv3())
    }

    fn header_map(headers: &std::collections::BTreeMap<String, String>) -> HeaderMap {
        headers
            .iter()
            .map(|(k, val)| {
                (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(val).unwrap())
            })
            .collect()
    }

    fn now_of(n: &vectors::Notification) -> DateTime<Utc> {
        DateTime::from_timestamp(n.headers["Wechatpay-Timestamp"].parse().unwrap(), 0).unwrap()
    }

    fn vector(name: &str) -> &'static vectors::Notification {
        v().notifications.iter().find(|n| n.name == name).unwrap()
    }

    fn envelope_of(n: &vectors::Notification) -> Envelope {
        serde_json::from_str(&n.body).unwrap()
    }

    /// Seals `plaintext` the way WeChat Pay does, for bodies the tests alter (then parsed
    /// without a signature, as a stored notification is).
    fn seal(plaintext: &str, nonce: &str, aad: &str) -> String {
        seal_resource(&apiv3(), aad, plaintext, nonce, aad).ciphertext
    }

    /// A notification body around `plain` (a JSON value), with the given event and type.
    fn body_with(event: &str, original_type: &str, plain: &Value) -> Vec<u8> {
        let plaintext = plain.to_string();
        json!({
            "id": "EV-test", "create_time": "2026-01-01T08:00:06+08:00",
            "resource_type": "encrypt-resource", "event_type": event, "summary": "s",
            "resource": {
                "original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": seal(&plaintext, "000000000000", original_type),
                "associated_data": original_type, "nonce": "000000000000",
            },
        })
        .to_string()
        .into_bytes()
    }

    fn transaction_plain() -> Value {
        serde_json::from_str(&vector("transaction_success").resource_plaintext).unwrap()
    }

    fn refund_plain() -> Value {
        serde_json::from_str(&vector("refund_success").resource_plaintext).unwrap()
    }

    /// The refusal's `field` and `rule` (it must be a malformed body).
    fn malformed(r: Result<WechatNotification, RejectReason>) -> (String, String) {
        match r {
            Err(RejectReason::MalformedBody { field, rule }) => (field, rule),
            other => panic!("expected a malformed body, got {other:?}"),
        }
    }

    #[test]
    fn every_sdk_notification_verifies_and_decrypts_to_the_sdks_plaintext() {
        assert!(v().notifications.len() >= 4);
        for n in &v().notifications {
            let envelope = envelope_of(n);
            assert_eq!(
                decrypt_resource(&apiv3(), &envelope.resource).unwrap(),
                n.resource_plaintext,
                "{}",
                n.name
            );
            let got = reader()
                .verify(&header_map(&n.headers), n.body.as_bytes(), now_of(n))
                .unwrap_or_else(|e| panic!("{}: {e}", n.name));
            assert_eq!(got.id, envelope.id);
            assert_eq!(got.event_type.as_str(), envelope.event_type);
        }
    }

    #[test]
    fn the_transaction_is_read_in_fen_with_its_state() {
        let n = vector("transaction_success");
        let got = reader().verify(&header_map(&n.headers), n.body.as_bytes(), now_of(n)).unwrap();
        assert_eq!(got.claimed(), ClaimedEvent::PaymentSucceeded);
        let Resource::Transaction(t) = got.resource else { panic!("a transaction") };
        assert_eq!(t.trade_state, TradeState::Success);
        assert_eq!((t.total, t.payer_total, t.currency.as_str()), (1999, Some(1899), "CNY"));
        assert_eq!(t.out_trade_no, "pg-20260101-0001");
        assert_eq!(t.transaction_id, "4200002345202601015536890123");
        assert_eq!((t.mchid.as_str(), t.appid.as_str()), (v().mchid.as_str(), v().appid.as_str()));
        assert_eq!(t.success_time.unwrap().to_rfc3339(), "2026-01-01T08:00:05+08:00");
    }

    #[test]
    fn refunds_are_read_with_their_status() {
        let expect = [
            ("refund_success", RefundState::Success, ClaimedEvent::RefundSucceeded),
            ("refund_abnormal", RefundState::Abnormal, ClaimedEvent::RefundFailed),
            ("refund_closed_empty_aad", RefundState::Closed, ClaimedEvent::RefundFailed),
        ];
        for (name, state, claimed) in expect {
            let n = vector(name);
            let got = reader().verify(&header_map(&n.headers), n.body.as_bytes(), now_of(n)).unwrap();
            assert_eq!(got.claimed(), claimed, "{name}");
            let Resource::Refund(r) = got.resource else { panic!("a refund") };
            assert_eq!(r.refund_status, state, "{name}");
            assert_eq!((r.refund, r.total), (500, 1999), "{name}");
            assert_eq!(r.out_trade_no, "pg-20260101-0001");
            assert!(r.out_refund_no.starts_with("pg-r-"), "{name}");
        }
        assert_eq!(
            envelope_of(vector("refund_closed_empty_aad")).resource.associated_data.as_deref(),
            Some("")
        );
    }

    #[test]
    fn a_tampered_ciphertext_nonce_or_aad_does_not_decrypt() {
        for n in &v().notifications {
            let good = envelope_of(n).resource;
            let mut sealed = BASE64.decode(&good.ciphertext).unwrap();
            for i in [0, sealed.len() - 1] {
                sealed[i] ^= 0x01;
                let bad = EncryptedResource { ciphertext: BASE64.encode(&sealed), ..good.clone() };
                let e = decrypt_resource(&apiv3(), &bad).unwrap_err();
                assert!(
                    matches!(&e, RejectReason::MalformedBody { field, .. } if field == "resource.ciphertext"),
                    "{e}"
                );
                sealed[i] ^= 0x01;
            }
            let bad = EncryptedResource {
                associated_data: Some(format!("{}x", good.associated_data.clone().unwrap_or_default())),
                ..good.clone()
            };
            assert!(decrypt_resource(&apiv3(), &bad).is_err(), "{}: aad", n.name);
            let mut nonce = good.nonce.clone().into_bytes();
            nonce[0] ^= 0x01;
            let bad = EncryptedResource { nonce: String::from_utf8(nonce).unwrap(), ..good.clone() };
            assert!(decrypt_resource(&apiv3(), &bad).is_err(), "{}: nonce", n.name);
            let other = ApiV3Key::new("0123456789abcdef0123456789abcdef").unwrap();
            assert!(decrypt_resource(&other, &good).is_err(), "{}: key", n.name);
            assert!(decrypt_resource(&apiv3(), &good).is_ok(), "{}: the untouched copy", n.name);
        }
    }

    #[test]
    fn resource_framing_errors_name_the_field() {
        let good = envelope_of(vector("transaction_success")).resource;
        let check = |r: EncryptedResource, field: &str, rule_part: &str| {
            let e = decrypt_resource(&apiv3(), &r).unwrap_err();
            let RejectReason::MalformedBody { field: f, rule } = &e else { panic!("{e}") };
            assert_eq!(f, field, "{e}");
            assert!(rule.contains(rule_part), "{e}");
        };
        check(
            EncryptedResource { algorithm: "AEAD_SM4_GCM".into(), ..good.clone() },
            "resource.algorithm",
            "AEAD_AES_256_GCM",
        );
        check(EncryptedResource { nonce: "short".into(), ..good.clone() }, "resource.nonce", "12 bytes");
        check(
            EncryptedResource { ciphertext: "***".into(), ..good.clone() },
            "resource.ciphertext",
            "Base64",
        );
        check(
            EncryptedResource { ciphertext: BASE64.encode([0u8; 15]), ..good.clone() },
            "resource.ciphertext",
            "16-byte tag",
        );
    }

    #[test]
    fn a_tampered_or_stale_notification_is_refused_by_its_signature() {
        let n = vector("transaction_success");
        let headers = header_map(&n.headers);
        let now = now_of(n);
        let altered = n.body.replacen("EV-", "EW-", 1);
        let e = reader().verify(&headers, altered.as_bytes(), now).unwrap_err();
        assert_eq!(e.token(), "bad_signature", "{e}");
        let e =
            reader().verify(&headers, n.body.as_bytes(), now + chrono::Duration::seconds(301)).unwrap_err();
        assert_eq!(e.token(), "stale_timestamp", "{e}");
        assert!(e.to_string().contains("Wechatpay-Timestamp"), "{e}");
        let mut unknown = headers.clone();
        unknown.insert("wechatpay-serial", HeaderValue::from_static("PUB_KEY_ID_UNKNOWN"));
        let e = reader().verify(&unknown, n.body.as_bytes(), now).unwrap_err();
        assert_eq!(e.token(), "bad_signature");
        assert!(e.to_string().contains("PUB_KEY_ID_UNKNOWN"), "{e}");
        let mut missing = headers.clone();
        missing.remove("Wechatpay-Signature");
        assert_eq!(
            reader().verify(&missing, n.body.as_bytes(), now),
            Err(RejectReason::MissingHeader("Wechatpay-Signature"))
        );
    }

    #[test]
    fn another_merchant_or_app_is_refused_by_field() {
        let n = vector("transaction_success");
        let other_mch = WechatpayNotifications::new("1900000999", &v().appid, platform(), apiv3());
        let (field, rule) =
            malformed(other_mch.verify(&header_map(&n.headers), n.body.as_bytes(), now_of(n)));
        assert_eq!(field, "resource.mchid");
        assert!(rule.contains("\"1900000999\"") && rule.contains(&v().mchid), "{rule}");
        let other_app = WechatpayNotifications::new(&v().mchid, "wx0000000000000000", platform(), apiv3());
        let (field, _) = malformed(other_app.parse(n.body.as_bytes()));
        assert_eq!(field, "resource.appid");
        let r = vector("refund_success");
        let (field, _) = malformed(other_mch.parse(r.body.as_bytes()));
        assert_eq!(field, "resource.mchid");
    }

    #[test]
    fn envelope_errors_name_the_field() {
        let base: Value = serde_json::from_str(&vector("transaction_success").body).unwrap();
        let cases: [(&str, Value, &str); 7] = [
            ("id", Value::Null, "id"),
            ("resource_type", json!("plain"), "resource_type"),
            ("event_type", json!("TRANSACTION.FAIL"), "event_type"),
            ("create_time", json!("yesterday"), "create_time"),
            ("create_time", json!(17), "create_time"),
            ("resource", json!({"algorithm": "AEAD_AES_256_GCM"}), "resource.original_type"),
            ("id", json!(""), "id"),
        ];
        for (key, value, field) in cases {
            let mut body = base.clone();
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value;
            }
            let (got, rule) = malformed(reader().parse(body.to_string().as_bytes()));
            assert_eq!(got, field, "{key}: {rule}");
        }
        let (got, rule) = malformed(reader().parse(b"{not json"));
        assert_eq!(got, "body");
        assert!(rule.starts_with("must be JSON"), "{rule}");
        let mut body = base.clone();
        body["resource"]["original_type"] = json!("refund");
        let (got, rule) = malformed(reader().parse(body.to_string().as_bytes()));
        assert_eq!(got, "resource.original_type");
        assert!(rule.contains("must be transaction for TRANSACTION.SUCCESS"), "{rule}");
    }

    #[test]
    fn decrypted_transaction_errors_name_the_field() {
        let mut cases: Vec<(Value, &str, &str)> = Vec::new();
        let mut t = transaction_plain();
        t["amount"]["total"] = json!(19.99);
        cases.push((t, "resource.amount.total", "integer fen"));
        let mut t = transaction_plain();
        t["amount"]["total"] = json!(0);
        cases.push((t, "resource.amount.total", "at least 1 fen"));
        let mut t = transaction_plain();
        t["amount"]["total"] = json!("1999");
        cases.push((t, "resource.amount.total", "wrong type"));
        let mut t = transaction_plain();
        t["amount"]["payer_total"] = json!(2000);
        cases.push((t, "resource.amount.payer_total", "must not exceed"));
        let mut t = transaction_plain();
        t.as_object_mut().unwrap().remove("out_trade_no");
        cases.push((t, "resource.out_trade_no", "is required"));
        let mut t = transaction_plain();
        t["amount"].as_object_mut().unwrap().remove("total");
        cases.push((t, "resource.amount.total", "is required"));
        let mut t = transaction_plain();
        t["trade_state"] = json!("PAID");
        cases.push((t, "resource.trade_state", "must be one of SUCCESS, REFUND, NOTPAY"));
        let mut t = transaction_plain();
        t["trade_state"] = json!("NOTPAY");
        cases.push((t, "resource.trade_state", "must be SUCCESS for event_type TRANSACTION.SUCCESS"));
        let mut t = transaction_plain();
        t["success_time"] = json!("2026-01-01 08:00:05");
        cases.push((t, "resource.success_time", "RFC 3339"));
        let mut t = transaction_plain();
        t["transaction_id"] = json!(" ");
        cases.push((t, "resource.transaction_id", "must not be empty"));
        let mut t = transaction_plain();
        t["amount"]["currency"] = json!("cny");
        cases.push((t, "resource.amount.currency", "ISO 4217"));
        for (plain, field, rule_part) in cases {
            let body = body_with("TRANSACTION.SUCCESS", "transaction", &plain);
            let (got, rule) = malformed(reader().parse(&body));
            assert_eq!(got, field, "{rule}");
            assert!(rule.contains(rule_part), "{field}: {rule}");
        }
        // The unaltered plaintext, sealed the same way, is taken: the cases above fail for their
        // one change.
        assert!(
            reader().parse(&body_with("TRANSACTION.SUCCESS", "transaction", &transaction_plain())).is_ok()
        );
    }

    #[test]
    fn decrypted_refund_errors_name_the_field() {
        let mut cases: Vec<(&str, Value, &str, &str)> = Vec::new();
        let mut r = refund_plain();
        r["amount"]["refund"] = json!(2000);
        cases.push(("REFUND.SUCCESS", r, "resource.amount.refund", "must not exceed resource.amount.total"));
        let mut r = refund_plain();
        r["amount"]["refund"] = json!(-5);
        cases.push(("REFUND.SUCCESS", r, "resource.amount.refund", "at least 1 fen"));
        let mut r = refund_plain();
        r["refund_status"] = json!("DONE");
        cases.push(("REFUND.SUCCESS", r, "resource.refund_status", "SUCCESS, CLOSED, PROCESSING, ABNORMAL"));
        let mut r = refund_plain();
        r["refund_status"] = json!("PROCESSING");
        cases.push((
            "REFUND.CLOSED",
            r,
            "resource.refund_status",
            "must be CLOSED for event_type REFUND.CLOSED",
        ));
        let mut r = refund_plain();
        r.as_object_mut().unwrap().remove("success_time");
        cases.push(("REFUND.SUCCESS", r, "resource.success_time", "required when refund_status is SUCCESS"));
        let mut r = refund_plain();
        r.as_object_mut().unwrap().remove("out_refund_no");
        cases.push(("REFUND.SUCCESS", r, "resource.out_refund_no", "is required"));
        for (event, plain, field, rule_part) in cases {
            let body = body_with(event, "refund", &plain);
            let (got, rule) = malformed(reader().parse(&body));
            assert_eq!(got, field, "{rule}");
            assert!(rule.contains(rule_part), "{field}: {rule}");
        }
        assert!(reader().parse(&body_with("REFUND.SUCCESS", "refund", &refund_plain())).is_ok());
    }

    #[test]
    fn states_parse_every_documented_spelling_and_nothing_else() {
        for (s, t) in [
            ("SUCCESS", TradeState::Success),
            ("REFUND", TradeState::Refund),
            ("NOTPAY", TradeState::NotPay),
            ("CLOSED", TradeState::Closed),
            ("REVOKED", TradeState::Revoked),
            ("USERPAYING", TradeState::UserPaying),
            ("PAYERROR", TradeState::PayError),
        ] {
            assert_eq!(TradeState::parse(s), Some(t));
            assert_eq!(t.as_str(), s);
        }
        for (s, r) in [
            ("SUCCESS", RefundState::Success),
            ("CLOSED", RefundState::Closed),
            ("PROCESSING", RefundState::Processing),
            ("ABNORMAL", RefundState::Abnormal),
        ] {
            assert_eq!(RefundState::parse(s), Some(r));
            assert_eq!(r.as_str(), s);
        }
        assert_eq!(TradeState::parse("success"), None);
        assert_eq!(RefundState::parse("REFUND"), None);
    }

    #[test]
    fn acknowledgements_are_204_empty_and_fail_with_code_and_message() {
        let ack = acknowledgement();
        assert_eq!((ack.status, ack.body.as_str()), (204, ""));
        let f = failure(503, "数据库不可用");
        assert_eq!(f.status, 503);
        let body: Value = serde_json::from_str(&f.body).unwrap();
        assert_eq!(body, json!({"code": "FAIL", "message": "数据库不可用"}));
        assert_eq!(failure(200, "x").status, 500, "a failure is never 2xx");
        let long = failure(400, &"字".repeat(100));
        let body: Value = serde_json::from_str(&long.body).unwrap();
        assert_eq!(body["message"].as_str().unwrap().chars().count(), 64);
        let body: Value = serde_json::from_str(&failure(400, "  ").body).unwrap();
        assert_eq!(body["message"], "FAIL");
    }
}
