//! Alipay open-platform signatures (RSA2: SHA256withRSA, PKCS#1 v1.5, Base64), in the three
//! places they occur: our requests, Alipay's responses, Alipay's asynchronous notifications.
//!
//! - **Keys** are read from PEM text: the app private key as PKCS#1 (`BEGIN RSA PRIVATE KEY`) or
//!   PKCS#8 (`BEGIN PRIVATE KEY`), Alipay's public key as SPKI (`BEGIN PUBLIC KEY`). The bare
//!   Base64 body that Alipay's key tool prints (no `-----BEGIN` line) is read too. Keys under
//!   2048 bits are refused (RSA2 asks for 2048). Neither key type's `Debug` shows the key.
//! - **Requests**: the canonical string is every parameter except `sign`, empty values dropped,
//!   sorted by key in byte (ASCII) order, `k=v` joined by `&` with raw (not URL-encoded) values.
//!   Its signature is deterministic, so the same parameters always give the same `sign`.
//! - **Responses**: `{"<method with dots as underscores>_response": {...}, "sign": "..."}`. The
//!   signature is over the exact raw text of that value, byte for byte as it arrived; a gateway
//!   error comes as `error_response` instead. The value is found by reading the JSON (serde_json's
//!   `RawValue` keeps the exact text), never by searching the text for the key, so a key inside
//!   a string or a nested object, braces and quotes inside strings, whitespace between tokens and
//!   `sign` before the value all read right. Any failure is a [`ResponseError`]: the answer
//!   cannot be trusted, and the caller treats the call as UNKNOWN.
//! - **Notifications**: the check string is every parameter except `sign` and `sign_type`,
//!   URL-decoded values, sorted, `k=v` joined by `&`, and, unlike requests, **empty values kept**
//!   as `k=`. That is what Alipay's Java SDK (`AlipaySignature.getSignCheckContentV1`) and
//!   `python-alipay-sdk` 3.4.0 (`AliPay.verify`) verify; tests/vectors/alipay holds notifications
//!   with empty parameters that the latter verified.
//!
//! The key reading and the SHA256withRSA signatures are [`rsa_sha256`]'s (RustCrypto's `rsa` and
//! `sha2`, and `base64`), shared with WeChat Pay; nothing here is hand-made.

use crate::providers::rsa_sha256::{self, KeyTextError, PrivateForms, PublicForms, VerifyFailure};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// The only `sign_type` paygate uses and accepts.
pub const SIGN_TYPE: &str = "RSA2";
/// The smallest RSA key RSA2 allows, in bits.
pub const MIN_KEY_BITS: usize = 2048;
/// The key a gateway-level error answer comes under, instead of the method's.
pub const ERROR_RESPONSE_KEY: &str = "error_response";

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{key}: is empty")]
    Empty { key: &'static str },
    #[error("{key}: is not {expected}: {detail}")]
    Unreadable { key: &'static str, expected: &'static str, detail: String },
    #[error("{key}: is {bits} bits; RSA2 needs at least {MIN_KEY_BITS}")]
    TooSmall { key: &'static str, bits: usize },
}

/// Our app's private key, which signs requests. `Debug` never shows it.
#[derive(Clone)]
pub struct AppPrivateKey(rsa_sha256::SigningKey);

impl fmt::Debug for AppPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppPrivateKey(<{} bits, redacted>)", self.0.bits())
    }
}

impl AppPrivateKey {
    const NAME: &'static str = "app private key";
    const EXPECTED: &'static str = "an RSA private key in PKCS#1 or PKCS#8 PEM (or its bare Base64 DER)";

    /// Reads a PKCS#1 or PKCS#8 PEM private key, or the bare Base64 of either's DER.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let key = rsa_sha256::private_key_from_text(text, PrivateForms { bare_base64: true })
            .map_err(|e| key_error(Self::NAME, Self::EXPECTED, "RSA PRIVATE KEY nor PRIVATE KEY", e))?;
        check_bits(Self::NAME, key.public())?;
        Ok(Self(key))
    }

    /// The public half, as Alipay is given it.
    pub fn public_key(&self) -> AlipayPublicKey {
        AlipayPublicKey(self.0.public().clone())
    }

    /// RSA2 signature of `message`, Base64 (standard alphabet, padded).
    pub fn sign(&self, message: &str) -> Result<String, SignError> {
        rsa_sha256::sign(&self.0, message.as_bytes()).map_err(|e| SignError(e.0))
    }
}

/// Signing failed (the key could not do the private operation). Not expected with a key that
/// [`AppPrivateKey::from_pem`] accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing with the app private key failed: {0}")]
pub struct SignError(String);

/// Alipay's public key, which verifies responses and notifications.
#[derive(Clone)]
pub struct AlipayPublicKey(rsa::PublicKey);

impl fmt::Debug for AlipayPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlipayPublicKey(<{} bits>)", rsa_sha256::bits(&self.0))
    }
}

impl AlipayPublicKey {
    const NAME: &'static str = "Alipay public key";
    const EXPECTED: &'static str = "an RSA public key in SPKI PEM (BEGIN PUBLIC KEY) or its bare Base64 DER";

    /// Reads an SPKI PEM public key (`BEGIN PUBLIC KEY`), or the bare Base64 of its DER.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let forms = PublicForms { pkcs1_pem: false, bare_base64: true };
        let key = rsa_sha256::public_key_from_text(text, forms)
            .map_err(|e| key_error(Self::NAME, Self::EXPECTED, "not PUBLIC KEY", e))?;
        check_bits(Self::NAME, &key)?;
        Ok(Self(key))
    }

    /// Checks a Base64 RSA2 signature of `message`.
    pub fn verify(&self, message: &[u8], sign: &str) -> Result<(), SignatureError> {
        if sign.is_empty() {
            return Err(SignatureError::Missing);
        }
        rsa_sha256::verify(&self.0, message, sign).map_err(|e| match e {
            VerifyFailure::NotBase64(detail) => SignatureError::NotBase64(detail),
            VerifyFailure::Mismatch => SignatureError::Mismatch,
        })
    }
}

/// Alipay's words for a key that could not be read: `labels` completes "the PEM label is …".
fn key_error(key: &'static str, expected: &'static str, labels: &str, e: KeyTextError) -> KeyError {
    let unreadable = |detail: String| KeyError::Unreadable { key, expected, detail };
    match e {
        KeyTextError::Empty => KeyError::Empty { key },
        KeyTextError::OtherLabel => {
            let label = if labels.starts_with("not ") {
                format!("the PEM label is {labels}")
            } else {
                format!("the PEM label is neither {labels}")
            };
            unreadable(label)
        }
        // Bare Base64 is taken for both of Alipay's keys, so "not PEM" does not occur.
        KeyTextError::NotPem => unreadable("not PEM".into()),
        KeyTextError::NotBase64(detail) => unreadable(format!("not PEM, and not Base64 either: {detail}")),
        KeyTextError::Unparsable { detail, .. } => unreadable(detail),
    }
}

fn check_bits(key: &'static str, rsa_key: &impl rsa::traits::PublicKeyParts) -> Result<(), KeyError> {
    let bits = rsa_sha256::bits(rsa_key);
    if bits < MIN_KEY_BITS { Err(KeyError::TooSmall { key, bits }) } else { Ok(()) }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("sign: is missing or empty")]
    Missing,
    #[error("sign: is not Base64: {0}")]
    NotBase64(String),
    #[error("sign: does not verify with the Alipay public key over the signed text")]
    Mismatch,
}

/// A parameter list that cannot be signed or checked as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("{0}: appears more than once; a signed parameter must appear once")]
    Duplicate(String),
}

/// The canonical request string: every parameter but `sign`, empty values dropped, sorted by
/// key (byte order), `k=v` joined by `&`, values raw.
pub fn canonical_request<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> Result<String, ParamsError> {
    join_sorted(params, |k, v| k != "sign" && !v.is_empty())
}

/// Signs request parameters: the Base64 `sign` for [`canonical_request`] of `params`.
pub fn sign_request<K: AsRef<str>, V: AsRef<str>>(
    key: &AppPrivateKey,
    params: &[(K, V)],
) -> Result<String, RequestSignError> {
    let canonical = canonical_request(params)?;
    Ok(key.sign(&canonical)?)
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestSignError {
    #[error(transparent)]
    Params(#[from] ParamsError),
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// The notification check string: every parameter but `sign` and `sign_type`, **empty values
/// kept** as `k=`, sorted by key (byte order), `k=v` joined by `&`, values URL-decoded (as the
/// caller passes them).
pub fn notification_check_string<K: AsRef<str>, V: AsRef<str>>(
    params: &[(K, V)],
) -> Result<String, ParamsError> {
    join_sorted(params, |k, _| k != "sign" && k != "sign_type")
}

/// Why a notification's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationSignError {
    #[error(transparent)]
    Params(#[from] ParamsError),
    #[error("sign_type: must be {SIGN_TYPE} (got {0:?})")]
    SignType(String),
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// Verifies a notification's decoded form parameters (`sign` and `sign_type` among them). A
/// `sign_type` other than `RSA2` is refused; a missing one is taken as `RSA2`, the only kind we
/// configure.
pub fn verify_notification<K: AsRef<str>, V: AsRef<str>>(
    key: &AlipayPublicKey,
    params: &[(K, V)],
) -> Result<(), NotificationSignError> {
    let check = notification_check_string(params)?;
    let value = |name: &str| params.iter().find(|(k, _)| k.as_ref() == name).map(|(_, v)| v.as_ref());
    if let Some(sign_type) = value("sign_type")
        && sign_type != SIGN_TYPE
    {
        return Err(NotificationSignError::SignType(sign_type.to_owned()));
    }
    key.verify(check.as_bytes(), value("sign").unwrap_or(""))?;
    Ok(())
}

fn join_sorted<K: AsRef<str>, V: AsRef<str>>(
    params: &[(K, V)],
    keep: impl Fn(&str, &str) -> bool,
) -> Result<String, ParamsError> {
    let mut kept: Vec<(&str, &str)> = Vec::with_capacity(params.len());
    for (k, v) in params {
        let (k, v) = (k.as_ref(), v.as_ref());
        if params.iter().filter(|(other, _)| other.as_ref() == k).count() > 1 {
            return Err(ParamsError::Duplicate(k.to_owned()));
        }
        if keep(k, v) {
            kept.push((k, v));
        }
    }
    kept.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (i, (k, v)) in kept.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    Ok(out)
}

/// The key a method's answer comes under: `alipay.trade.query` → `alipay_trade_query_response`.
pub fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Which value of the response was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// `<method>_response`: the method's answer (success or business failure, by its `code`).
    Method,
    /// `error_response`: a gateway-level error.
    Error,
}

/// The parts of a response body that the signature covers, as they arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedResponse<'a> {
    pub kind: ResponseKind,
    /// The exact raw JSON text of the `_response` value (an object), as the body has it.
    pub content: &'a str,
    /// The `sign` value (JSON string unescaped), if the body has one.
    pub sign: Option<String>,
}

/// A response whose signature verified: `content` is the signed JSON text, to be read by the
/// caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedResponse<'a> {
    pub kind: ResponseKind,
    pub content: &'a str,
}

/// Why a response cannot be trusted. Every variant means the same to the caller: the outcome of
/// the call is UNKNOWN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("response: is not a JSON object: {0}")]
    NotJson(String),
    #[error("response: the top-level key {0:?} appears more than once")]
    DuplicateKey(String),
    #[error("response: has neither {expected:?} nor \"error_response\"")]
    NoResponseValue { expected: String },
    #[error("response: has both {expected:?} and \"error_response\"; which one was signed is unclear")]
    BothResponseValues { expected: String },
    #[error("{key}: must be a JSON object")]
    ValueNotObject { key: String },
    #[error("sign: must be a JSON string")]
    SignNotString,
    #[error("response: is not signed (no sign, or an empty one)")]
    Unsigned,
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// Finds the signed value of a response to `method` and its `sign`, without re-serialising.
pub fn extract_response<'a>(body: &'a str, method: &str) -> Result<SignedResponse<'a>, ResponseError> {
    let expected = response_key(method);
    let mut de = serde_json::Deserializer::from_str(body);
    let entries = de.deserialize_map(TopLevel).map_err(|e| ResponseError::NotJson(e.to_string()))?;
    de.end().map_err(|e| ResponseError::NotJson(e.to_string()))?;
    for (i, (k, _)) in entries.iter().enumerate() {
        if entries[..i].iter().any(|(seen, _)| seen == k) {
            return Err(ResponseError::DuplicateKey(k.clone()));
        }
    }
    let find = |name: &str| entries.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    let (kind, key, raw) = match (find(&expected), find(ERROR_RESPONSE_KEY)) {
        (Some(raw), None) => (ResponseKind::Method, expected.as_str(), raw),
        (None, Some(raw)) => (ResponseKind::Error, ERROR_RESPONSE_KEY, raw),
        (Some(_), Some(_)) => return Err(ResponseError::BothResponseValues { expected }),
        (None, None) => return Err(ResponseError::NoResponseValue { expected }),
    };
    let content = raw.get();
    if !content.starts_with('{') {
        return Err(ResponseError::ValueNotObject { key: key.to_owned() });
    }
    let sign = match find("sign") {
        None => None,
        Some(raw) => {
            Some(serde_json::from_str::<String>(raw.get()).map_err(|_| ResponseError::SignNotString)?)
        }
    };
    Ok(SignedResponse { kind, content, sign })
}

/// Verifies a response to `method` with Alipay's public key and gives the signed JSON text.
pub fn verify_response<'a>(
    key: &AlipayPublicKey,
    body: &'a str,
    method: &str,
) -> Result<VerifiedResponse<'a>, ResponseError> {
    let signed = extract_response(body, method)?;
    let sign = signed.sign.filter(|s| !s.is_empty()).ok_or(ResponseError::Unsigned)?;
    key.verify(signed.content.as_bytes(), &sign)?;
    Ok(VerifiedResponse { kind: signed.kind, content: signed.content })
}

/// Reads a JSON object's top-level entries in order, each value as its exact raw text.
struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
            entries.push((k, v));
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Throwaway test-only keys, from tests/vectors/alipay/vectors.json.
    fn vectors() -> serde_json::Value {
        let text = include_str!("../../../../tests/vectors/alipay/vectors.json");
        serde_json::from_str(text).unwrap()
    }

    fn app_key() -> AppPrivateKey {
        AppPrivateKey::from_pem(vectors()["keys"]["app"]["private_pkcs1_pem"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn canonical_request_drops_sign_and_empty_values_and_sorts_by_byte() {
        let params = [("b", "2"), ("sign", "x"), ("a", ""), ("B", "upper"), ("a_b", "1 +&=%"), ("c", "测试")];
        assert_eq!(canonical_request(&params).unwrap(), "B=upper&a_b=1 +&=%&b=2&c=测试");
    }

    #[test]
    fn notification_check_string_keeps_empty_values_and_drops_sign_type() {
        let params = [("b", ""), ("sign_type", "RSA2"), ("sign", "x"), ("a", "1")];
        assert_eq!(notification_check_string(&params).unwrap(), "a=1&b=");
    }

    #[test]
    fn a_duplicate_parameter_is_refused_by_name() {
        let err = canonical_request(&[("a", "1"), ("b", "2"), ("a", "3")]).unwrap_err();
        assert_eq!(err.to_string(), "a: appears more than once; a signed parameter must appear once");
        // Even a duplicate that would be dropped (an empty value) is refused.
        assert!(canonical_request(&[("a", ""), ("a", "")]).is_err());
    }

    #[test]
    fn keys_debug_never_shows_the_key() {
        let v = vectors();
        let pem = v["keys"]["app"]["private_pkcs1_pem"].as_str().unwrap();
        let shown = format!("{:?}", app_key());
        assert_eq!(shown, "AppPrivateKey(<2048 bits, redacted>)");
        let body: String = pem.lines().nth(1).unwrap().chars().take(16).collect();
        assert!(!shown.contains(&body));
    }

    #[test]
    fn pkcs1_pkcs8_and_bare_base64_private_keys_are_the_same_key() {
        let v = vectors();
        let app = &v["keys"]["app"];
        let pkcs1 = AppPrivateKey::from_pem(app["private_pkcs1_pem"].as_str().unwrap()).unwrap();
        let pkcs8 = AppPrivateKey::from_pem(app["private_pkcs8_pem"].as_str().unwrap()).unwrap();
        let bare: String =
            app["private_pkcs8_pem"].as_str().unwrap().lines().filter(|l| !l.starts_with("-----")).collect();
        let bare = AppPrivateKey::from_pem(&bare).unwrap();
        let s = pkcs1.sign("a=1").unwrap();
        assert_eq!(s, pkcs8.sign("a=1").unwrap());
        assert_eq!(s, bare.sign("a=1").unwrap());
        let public = AlipayPublicKey::from_pem(app["public_spki_pem"].as_str().unwrap()).unwrap();
        public.verify(b"a=1", &s).unwrap();
        assert_eq!(public.verify(b"a=2", &s), Err(SignatureError::Mismatch));
    }

    #[test]
    fn unreadable_keys_say_which_key_and_what_was_expected() {
        let err = AppPrivateKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
            .unwrap_err();
        assert!(err.to_string().starts_with("app private key: is not an RSA private key"), "{err}");
        let err = AlipayPublicKey::from_pem("not a key!").unwrap_err();
        assert!(err.to_string().starts_with("Alipay public key: is not an RSA public key"), "{err}");
        assert_eq!(
            AlipayPublicKey::from_pem("  ").unwrap_err(),
            KeyError::Empty { key: "Alipay public key" }
        );
    }

    #[test]
    fn response_extraction_reads_json_not_text() {
        let body = r#"{"note":"\"m_response\":{}","x":{"m_response":{"a":1}}, "m_response" : {"s":"}{\"\\","n":{"k":[{}]}} ,"sign":"c2lnbg\/=="}"#;
        let got = extract_response(body, "m").unwrap();
        assert_eq!(got.kind, ResponseKind::Method);
        assert_eq!(got.content, r#"{"s":"}{\"\\","n":{"k":[{}]}}"#);
        assert_eq!(got.sign.as_deref(), Some("c2lnbg/=="));
    }

    #[test]
    fn response_extraction_errors() {
        let e = |body: &str| extract_response(body, "a.b").unwrap_err();
        assert!(matches!(e("[1]"), ResponseError::NotJson(_)));
        assert!(matches!(e(r#"{"a_b_response":{}} x"#), ResponseError::NotJson(_)));
        assert_eq!(
            e(r#"{"a_b_response":{},"a_b_response":{}}"#),
            ResponseError::DuplicateKey("a_b_response".into())
        );
        assert!(matches!(e(r#"{"other_response":{}}"#), ResponseError::NoResponseValue { .. }));
        assert!(matches!(
            e(r#"{"a_b_response":{},"error_response":{}}"#),
            ResponseError::BothResponseValues { .. }
        ));
        assert_eq!(
            e(r#"{"a_b_response":"{}"}"#),
            ResponseError::ValueNotObject { key: "a_b_response".into() }
        );
        assert_eq!(e(r#"{"a_b_response":{},"sign":1}"#), ResponseError::SignNotString);
        let key = app_key().public_key();
        assert_eq!(verify_response(&key, r#"{"a_b_response":{}}"#, "a.b"), Err(ResponseError::Unsigned));
        assert_eq!(
            verify_response(&key, r#"{"a_b_response":{},"sign":""}"#, "a.b"),
            Err(ResponseError::Unsigned)
        );
        assert!(matches!(
            verify_response(&key, r#"{"a_b_response":{},"sign":"!!"}"#, "a.b"),
            Err(ResponseError::Signature(SignatureError::NotBase64(_)))
        ));
    }

    #[test]
    fn a_notification_with_another_sign_type_is_refused() {
        let key = app_key().public_key();
        let err =
            verify_notification(&key, &[("a", "1"), ("sign_type", "RSA"), ("sign", "AAAA")]).unwrap_err();
        assert_eq!(err.to_string(), "sign_type: must be RSA2 (got \"RSA\")");
        let err = verify_notification(&key, &[("a", "1")]).unwrap_err();
        assert_eq!(err, NotificationSignError::Signature(SignatureError::Missing));
    }
}
