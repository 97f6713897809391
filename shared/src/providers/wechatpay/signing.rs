//! WeChat Pay API v3 keys and signatures (`WECHATPAY2-SHA256-RSA2048`).
//!
//! - **Keys.** The merchant's RSA private key (PEM, PKCS#8 `PRIVATE KEY` as WeChat Pay issues it,
//!   or PKCS#1 `RSA PRIVATE KEY`) with its certificate serial number ([`MerchantKey`]); WeChat
//!   Pay's public keys by the serial its `Wechatpay-Serial` header names ([`PlatformKeys`]: a
//!   platform certificate's serial or a `PUB_KEY_ID_…` public-key id; an unknown serial is refused
//!   by name); the 32-byte APIv3 key that decrypts notification resources ([`ApiV3Key`]). No key
//!   type shows key material in `Debug`.
//! - **Requests** are signed over `METHOD\nURL-path?query\ntimestamp\nnonce\nbody\n` (a request
//!   without a body, a GET, has an empty line there) with SHA256withRSA (PKCS#1 v1.5) under the
//!   merchant key, Base64, and sent as `Authorization: WECHATPAY2-SHA256-RSA2048
//!   mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"` ([`sign_request`]).
//! - **Responses and notifications** are verified over `timestamp\nnonce\nbody\n` with the
//!   platform key `Wechatpay-Serial` selects ([`verify`]); a `Wechatpay-Timestamp` more than
//!   [`DEFAULT_WINDOW_SECS`] from our clock is refused even under a good signature (a replay).
//!   The clock is a parameter, so tests are deterministic.
//!
//! The key reading and SHA256withRSA are [`rsa_sha256`]'s, shared with Alipay (RustCrypto's `rsa`,
//! `sha2`, and `base64`); see docs/dependencies.md. Tested against
//! signatures the PyPI SDK `wechatpayv3` made (tests/vectors/wechatpay/).

use crate::providers::rsa_sha256::{self, KeyForm, KeyTextError, PrivateForms, PublicForms, VerifyFailure};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use rsa::PublicKey;
use std::collections::BTreeMap;

/// The signature scheme, first word of `Authorization` and the `Wechatpay-Signature-Type` value.
pub const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
pub const HEADER_SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";
/// How far a response's or notification's timestamp may be from our clock.
pub const DEFAULT_WINDOW_SECS: i64 = 300;
/// The smallest RSA modulus we take, in bits (the scheme's name says 2048).
pub const MIN_RSA_BITS: usize = 2048;
/// The length of the APIv3 key, in bytes (the AES-256 key).
pub const APIV3_KEY_LEN: usize = 32;

/// A key that could not be read. Says which key and what rule it broke; never shows the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {rule}")]
pub struct KeyError {
    /// Which key: `merchant private key`, `platform key "<serial>"`, `APIv3 key`, ….
    pub key: String,
    pub rule: String,
}

impl KeyError {
    fn new(key: impl Into<String>, rule: impl Into<String>) -> Self {
        Self { key: key.into(), rule: rule.into() }
    }
}

/// The merchant's API private key and its certificate serial number (`serial_no` in
/// `Authorization`). `Debug` shows the serial, never the key.
#[derive(Clone)]
pub struct MerchantKey {
    serial_no: String,
    key: rsa_sha256::SigningKey,
}

impl MerchantKey {
    /// Reads a PEM private key: PKCS#8 (`-----BEGIN PRIVATE KEY-----`, WeChat Pay's
    /// `apiclient_key.pem`) or PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`). Unencrypted only.
    pub fn from_pem(serial_no: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        const WHAT: &str = "merchant private key";
        let serial_no = serial_no.into();
        check_serial(WHAT, &serial_no)?;
        let key = rsa_sha256::private_key_from_text(pem, PrivateForms { bare_base64: false }).map_err(|e| {
            let rule = match e {
                KeyTextError::Unparsable { form: KeyForm::Pkcs8PrivatePem, detail } => {
                    format!("is not a readable PKCS#8 RSA private key ({detail})")
                }
                KeyTextError::Unparsable { detail, .. } => {
                    format!("is not a readable PKCS#1 RSA private key ({detail})")
                }
                _ => "must be PEM, -----BEGIN PRIVATE KEY----- (PKCS#8) or -----BEGIN RSA PRIVATE KEY----- (PKCS#1)"
                    .to_owned(),
            };
            KeyError::new(WHAT, rule)
        })?;
        check_bits(WHAT, key.bits() / 8)?;
        Ok(Self { serial_no, key })
    }

    /// The merchant certificate's serial number.
    pub fn serial_no(&self) -> &str {
        &self.serial_no
    }

    /// Base64 of SHA256withRSA (PKCS#1 v1.5) over `message`. Deterministic: the same key and
    /// message give the same signature (the key is blinded while signing, which does not change
    /// the result).
    pub fn sign(&self, message: &[u8]) -> String {
        // Signing cannot fail for a key we read and checked, with a SHA-256 digest that fits a
        // 2048-bit modulus; a failure would be the OS RNG (blinding) being unavailable.
        rsa_sha256::sign(&self.key, message).expect("RSA PKCS#1 v1.5 signing with a checked key")
    }
}

impl std::fmt::Debug for MerchantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantKey").field("serial_no", &self.serial_no).field("key", &"[redacted]").finish()
    }
}

/// WeChat Pay's public keys, by the serial `Wechatpay-Serial` names. `Debug` lists the serials.
#[derive(Clone, Default)]
pub struct PlatformKeys {
    keys: BTreeMap<String, PublicKey>,
}

impl PlatformKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the public key for `serial`: PEM `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo,
    /// as WeChat Pay publishes its public key) or `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1).
    /// A serial given twice is refused (two keys for one serial is a configuration mistake).
    pub fn insert_pem(&mut self, serial: impl Into<String>, pem: &str) -> Result<(), KeyError> {
        let serial = serial.into();
        let what = format!("platform key {serial:?}");
        check_serial(&what, &serial)?;
        if self.keys.contains_key(&serial) {
            return Err(KeyError::new(what, "is configured twice; each serial names one key"));
        }
        let forms = PublicForms { pkcs1_pem: true, bare_base64: false };
        let key = rsa_sha256::public_key_from_text(pem, forms).map_err(|e| {
            let rule = match e {
                KeyTextError::Unparsable { form: KeyForm::Pkcs1PublicPem, detail } => {
                    format!("is not a readable PKCS#1 RSA public key ({detail})")
                }
                KeyTextError::Unparsable { detail, .. } => format!("is not a readable RSA public key ({detail})"),
                _ => "must be PEM, -----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY----- (a certificate is not read here)"
                    .to_owned(),
            };
            KeyError::new(&what, rule)
        })?;
        check_bits(&what, rsa_sha256::bits(&key) / 8)?;
        self.keys.insert(serial, key);
        Ok(())
    }

    /// The key for `serial`, or [`VerifyError::UnknownSerial`].
    pub fn get(&self, serial: &str) -> Result<&PublicKey, VerifyError> {
        self.keys.get(serial).ok_or_else(|| VerifyError::UnknownSerial {
            serial: serial.to_owned(),
            known: self.serials().map(str::to_owned).collect(),
        })
    }

    pub fn serials(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl std::fmt::Debug for PlatformKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformKeys").field("serials", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

/// The APIv3 key: the 32 bytes of the key string set in the merchant platform, used as the
/// AES-256-GCM key of notification resources. `Debug` never shows it.
#[derive(Clone)]
pub struct ApiV3Key([u8; APIV3_KEY_LEN]);

impl ApiV3Key {
    /// From the key as configured (its UTF-8 bytes must be exactly 32).
    pub fn new(key: &str) -> Result<Self, KeyError> {
        let bytes: [u8; APIV3_KEY_LEN] = key.as_bytes().try_into().map_err(|_| {
            KeyError::new("APIv3 key", format!("must be exactly {APIV3_KEY_LEN} bytes (got {})", key.len()))
        })?;
        Ok(Self(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8; APIV3_KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiV3Key([redacted])")
    }
}

fn check_serial(what: &str, serial: &str) -> Result<(), KeyError> {
    if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(KeyError::new(what, "its serial must be non-empty printable ASCII without spaces"));
    }
    Ok(())
}

fn check_bits(what: &str, modulus_bytes: usize) -> Result<(), KeyError> {
    if modulus_bytes * 8 < MIN_RSA_BITS {
        return Err(KeyError::new(
            what,
            format!("must be an RSA key of at least {MIN_RSA_BITS} bits (got {})", modulus_bytes * 8),
        ));
    }
    Ok(())
}

/// The message a request's signature covers. `url_path_and_query` is the URL without scheme and
/// host (`/v3/pay/transactions/native`, `/v3/…?mchid=…`), exactly as sent; `body` is the exact
/// body, empty when there is none.
pub fn request_message(
    method: &str,
    url_path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{url_path_and_query}\n{timestamp}\n{nonce}\n{body}\n")
}

/// One signed request: the parameters of its `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSignature {
    pub mchid: String,
    pub nonce_str: String,
    pub timestamp: i64,
    pub serial_no: String,
    /// Base64 SHA256withRSA over [`request_message`].
    pub signature: String,
}

impl RequestSignature {
    /// The `Authorization` header's value.
    pub fn authorization(&self) -> String {
        format!(
            "{SCHEME} mchid=\"{}\",nonce_str=\"{}\",timestamp=\"{}\",serial_no=\"{}\",signature=\"{}\"",
            self.mchid, self.nonce_str, self.timestamp, self.serial_no, self.signature
        )
    }
}

/// Signs one request with the given timestamp (Unix seconds) and nonce (tests pin them; see
/// [`sign_request_now`]).
pub fn sign_request(
    mchid: &str,
    key: &MerchantKey,
    method: &str,
    url_path_and_query: &str,
    body: &str,
    timestamp: i64,
    nonce: &str,
) -> RequestSignature {
    let message = request_message(method, url_path_and_query, timestamp, nonce, body);
    RequestSignature {
        mchid: mchid.to_owned(),
        nonce_str: nonce.to_owned(),
        timestamp,
        serial_no: key.serial_no().to_owned(),
        signature: key.sign(message.as_bytes()),
    }
}

/// Signs one request now, with a fresh nonce (32 uppercase hex characters of a UUID v4): a retry
/// is signed again, not replayed.
pub fn sign_request_now(
    mchid: &str,
    key: &MerchantKey,
    method: &str,
    url_path_and_query: &str,
    body: &str,
    now: DateTime<Utc>,
) -> RequestSignature {
    let nonce = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    sign_request(mchid, key, method, url_path_and_query, body, now.timestamp(), &nonce)
}

/// The message a response's or notification's signature covers: `timestamp\nnonce\nbody\n` over
/// the exact body bytes (an empty body, a 204, leaves the last line empty).
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    for part in [timestamp.as_bytes(), b"\n", nonce.as_bytes(), b"\n", body, b"\n"] {
        message.extend_from_slice(part);
    }
    message
}

/// The signing headers of a response or notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub serial: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
    /// `Wechatpay-Signature-Type`, when sent; it must then be [`SCHEME`].
    pub signature_type: Option<String>,
}

impl SignedHeaders {
    /// Reads the `Wechatpay-*` headers (names are case-insensitive).
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, VerifyError> {
        let required = |name: &'static str| -> Result<String, VerifyError> {
            match headers.get(name).map(|v| v.to_str()) {
                Some(Ok(v)) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
                Some(Err(_)) => {
                    Err(VerifyError::Malformed { header: name, rule: "must be visible ASCII".into() })
                }
                _ => Err(VerifyError::MissingHeader(name)),
            }
        };
        let signature_type = match headers.get(HEADER_SIGNATURE_TYPE) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| VerifyError::Malformed {
                        header: HEADER_SIGNATURE_TYPE,
                        rule: "must be visible ASCII".into(),
                    })?
                    .trim()
                    .to_owned(),
            ),
        };
        Ok(Self {
            serial: required(HEADER_SERIAL)?,
            timestamp: required(HEADER_TIMESTAMP)?,
            nonce: required(HEADER_NONCE)?,
            signature: required(HEADER_SIGNATURE)?,
            signature_type,
        })
    }
}

/// Why a response or notification signature was refused. Each names the header and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{0} is required and must not be empty")]
    MissingHeader(&'static str),
    #[error("{header}: {rule}")]
    Malformed { header: &'static str, rule: String },
    #[error("Wechatpay-Serial {serial:?} names no platform key we hold (we hold {known:?})")]
    UnknownSerial { serial: String, known: Vec<String> },
    #[error("Wechatpay-Timestamp must be within {window_secs} s of our clock (got {got}, now {now})")]
    Stale { got: i64, now: i64, window_secs: i64 },
    #[error(
        "Wechatpay-Signature does not verify over timestamp, nonce and body with the key of Wechatpay-Serial {serial:?}"
    )]
    BadSignature { serial: String },
}

/// Verifies a response's or notification's signature with the platform key its serial selects,
/// then the timestamp window around `now`.
pub fn verify(
    keys: &PlatformKeys,
    headers: &SignedHeaders,
    body: &[u8],
    now: DateTime<Utc>,
    window_secs: i64,
) -> Result<(), VerifyError> {
    if let Some(kind) = &headers.signature_type
        && kind != SCHEME
    {
        return Err(VerifyError::Malformed {
            header: HEADER_SIGNATURE_TYPE,
            rule: format!("must be {SCHEME} (got {kind:?})"),
        });
    }
    let key = keys.get(&headers.serial)?;
    let timestamp = parse_timestamp(&headers.timestamp)?;
    if headers.nonce.contains('\n') {
        return Err(VerifyError::Malformed {
            header: HEADER_NONCE,
            rule: "must not contain a line feed".into(),
        });
    }
    let message = response_message(&headers.timestamp, &headers.nonce, body);
    rsa_sha256::verify(key, &message, &headers.signature).map_err(|e| match e {
        VerifyFailure::NotBase64(detail) => VerifyError::Malformed {
            header: HEADER_SIGNATURE,
            rule: format!("must be standard Base64 ({detail})"),
        },
        VerifyFailure::Mismatch => VerifyError::BadSignature { serial: headers.serial.clone() },
    })?;
    let now = now.timestamp();
    if timestamp.abs_diff(now) > window_secs.unsigned_abs() {
        return Err(VerifyError::Stale { got: timestamp, now, window_secs });
    }
    Ok(())
}

fn parse_timestamp(raw: &str) -> Result<i64, VerifyError> {
    let malformed = || VerifyError::Malformed {
        header: HEADER_TIMESTAMP,
        rule: format!("must be Unix seconds, 1 to 12 decimal digits (got {raw:?})"),
    };
    if raw.is_empty() || raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    raw.parse().map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::super::vectors::{self, Vectors};
    use super::*;
    use axum::http::HeaderValue;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;

    fn v() -> &'static Vectors {
        vectors::load()
    }

    fn merchant() -> MerchantKey {
        MerchantKey::from_pem(&v().merchant.serial_no, &v().merchant.private_key_pkcs8_pem).unwrap()
    }

    fn platform() -> PlatformKeys {
        let mut keys = PlatformKeys::new();
        for p in &v().platform {
            keys.insert_pem(&p.serial, &p.public_key_pem).unwrap();
        }
        keys
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn headers_of(r: &vectors::Response) -> SignedHeaders {
        SignedHeaders {
            serial: r.serial.clone(),
            timestamp: r.timestamp.clone(),
            nonce: r.nonce.clone(),
            signature: r.signature.clone(),
            signature_type: Some(SCHEME.into()),
        }
    }

    fn now_of(r: &vectors::Response) -> DateTime<Utc> {
        at(r.timestamp.parse().unwrap())
    }

    /// `key="value"` pairs of an Authorization header, after the scheme.
    fn auth_params(header: &str) -> BTreeMap<String, String> {
        let rest = header.strip_prefix(&format!("{SCHEME} ")).expect("the scheme first");
        rest.split(',')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect()
    }

    #[test]
    fn request_messages_match_the_sdk_vectors_byte_for_byte() {
        assert!(v().requests.len() >= 4);
        for r in &v().requests {
            let ts: i64 = r.timestamp.parse().unwrap();
            assert_eq!(
                request_message(&r.method, &r.url_path, ts, &r.nonce, &r.body),
                r.message,
                "{}",
                r.name
            );
        }
        let get = v().requests.iter().find(|r| r.method == "GET").unwrap();
        assert!(get.message.ends_with(&format!("{}\n\n", get.nonce)), "a GET's body line is empty");
    }

    #[test]
    fn request_signatures_are_byte_identical_to_the_sdk() {
        let key = merchant();
        for r in &v().requests {
            let ts: i64 = r.timestamp.parse().unwrap();
            let ours = sign_request(&v().mchid, &key, &r.method, &r.url_path, &r.body, ts, &r.nonce);
            assert_eq!(ours.signature, r.signature, "{}", r.name);
            // Deterministic: signing again gives the same bytes.
            assert_eq!(key.sign(r.message.as_bytes()), r.signature, "{}", r.name);
        }
        let non_ascii = v().requests.iter().find(|r| r.name == "post_json_non_ascii").unwrap();
        assert!(non_ascii.body.contains("测试商品"), "the vector signs raw UTF-8");
    }

    #[test]
    fn the_pkcs1_pem_of_the_same_key_signs_identically() {
        let pkcs1 =
            MerchantKey::from_pem(&v().merchant.serial_no, &v().merchant.private_key_pkcs1_pem).unwrap();
        for r in &v().requests {
            assert_eq!(pkcs1.sign(r.message.as_bytes()), r.signature, "{}", r.name);
        }
    }

    #[test]
    fn authorization_headers_carry_the_sdks_parameters() {
        let key = merchant();
        for r in &v().requests {
            let ts: i64 = r.timestamp.parse().unwrap();
            let ours = sign_request(&v().mchid, &key, &r.method, &r.url_path, &r.body, ts, &r.nonce);
            let header = ours.authorization();
            assert_eq!(auth_params(&header), auth_params(&r.authorization), "{}", r.name);
            assert_eq!(
                header,
                format!(
                    "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{}\",timestamp=\"{}\",serial_no=\"{}\",signature=\"{}\"",
                    v().mchid,
                    r.nonce,
                    r.timestamp,
                    v().merchant.serial_no,
                    r.signature
                )
            );
        }
    }

    #[test]
    fn a_signature_over_another_message_differs() {
        let r = &v().requests[0];
        let ts: i64 = r.timestamp.parse().unwrap();
        let other = sign_request(&v().mchid, &merchant(), &r.method, &r.url_path, &r.body, ts + 1, &r.nonce);
        assert_ne!(other.signature, r.signature);
    }

    #[test]
    fn sign_request_now_uses_a_fresh_nonce_and_the_clock() {
        let a = sign_request_now(&v().mchid, &merchant(), "GET", "/v3/certificates", "", at(1_767_225_600));
        let b = sign_request_now(&v().mchid, &merchant(), "GET", "/v3/certificates", "", at(1_767_225_600));
        assert_eq!(a.timestamp, 1_767_225_600);
        assert_eq!(a.nonce_str.len(), 32);
        assert!(a.nonce_str.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(a.nonce_str, b.nonce_str);
    }

    #[test]
    fn every_sdk_signed_response_verifies() {
        let keys = platform();
        assert!(v().responses.len() >= 3);
        for r in &v().responses {
            assert_eq!(
                response_message(&r.timestamp, &r.nonce, r.body.as_bytes()),
                r.message.as_bytes(),
                "{}",
                r.name
            );
            verify(&keys, &headers_of(r), r.body.as_bytes(), now_of(r), DEFAULT_WINDOW_SECS)
                .unwrap_or_else(|e| panic!("{}: {e}", r.name));
        }
        assert!(v().responses.iter().any(|r| r.body.is_empty()), "a 204 with no body is among them");
    }

    #[test]
    fn every_tampered_copy_is_refused() {
        let keys = platform();
        for r in &v().responses {
            let h = headers_of(r);
            let now = now_of(r);
            let body = r.body.as_bytes();
            let bad =
                |headers: &SignedHeaders, body: &[u8]| verify(&keys, headers, body, now, DEFAULT_WINDOW_SECS);
            let mut longer = body.to_vec();
            longer.push(b' ');
            assert!(matches!(bad(&h, &longer), Err(VerifyError::BadSignature { .. })), "{}: body", r.name);
            if !body.is_empty() {
                let mut flipped = body.to_vec();
                flipped[body.len() / 2] ^= 0x01;
                assert!(
                    matches!(bad(&h, &flipped), Err(VerifyError::BadSignature { .. })),
                    "{}: body byte",
                    r.name
                );
            }
            let ts = (r.timestamp.parse::<i64>().unwrap() + 1).to_string();
            let h2 = SignedHeaders { timestamp: ts, ..h.clone() };
            assert!(matches!(bad(&h2, body), Err(VerifyError::BadSignature { .. })), "{}: timestamp", r.name);
            let h2 = SignedHeaders { nonce: format!("{}x", h.nonce), ..h.clone() };
            assert!(matches!(bad(&h2, body), Err(VerifyError::BadSignature { .. })), "{}: nonce", r.name);
            let mut sig = BASE64.decode(&h.signature).unwrap();
            sig[0] ^= 0x80;
            let h2 = SignedHeaders { signature: BASE64.encode(&sig), ..h.clone() };
            assert!(matches!(bad(&h2, body), Err(VerifyError::BadSignature { .. })), "{}: signature", r.name);
            // The other platform key, named by its own serial, does not verify it either.
            let other = v().platform.iter().find(|p| p.serial != r.serial).unwrap();
            let h2 = SignedHeaders { serial: other.serial.clone(), ..h.clone() };
            assert_eq!(
                bad(&h2, body),
                Err(VerifyError::BadSignature { serial: other.serial.clone() }),
                "{}",
                r.name
            );
            let h2 = SignedHeaders { serial: "UNKNOWN0000".into(), ..h.clone() };
            let err = bad(&h2, body).unwrap_err();
            assert!(matches!(err, VerifyError::UnknownSerial { .. }), "{}", r.name);
            assert!(err.to_string().contains("\"UNKNOWN0000\""), "{err}");
        }
    }

    #[test]
    fn a_timestamp_outside_the_window_is_refused_under_a_good_signature() {
        let keys = platform();
        let r = &v().responses[0];
        let h = headers_of(r);
        let ts: i64 = r.timestamp.parse().unwrap();
        let check = |now: i64| verify(&keys, &h, r.body.as_bytes(), at(now), DEFAULT_WINDOW_SECS);
        assert_eq!(check(ts + 300), Ok(()));
        assert_eq!(check(ts - 300), Ok(()));
        assert_eq!(check(ts + 301), Err(VerifyError::Stale { got: ts, now: ts + 301, window_secs: 300 }));
        assert!(matches!(check(ts - 301), Err(VerifyError::Stale { .. })), "a timestamp from the future too");
        assert!(check(ts + 301).unwrap_err().to_string().contains("Wechatpay-Timestamp"));
    }

    #[test]
    fn malformed_headers_name_the_header() {
        let keys = platform();
        let r = &v().responses[0];
        let h = headers_of(r);
        let now = now_of(r);
        let check =
            |h: &SignedHeaders| verify(&keys, h, r.body.as_bytes(), now, DEFAULT_WINDOW_SECS).unwrap_err();
        let e = check(&SignedHeaders { timestamp: "1767225610.5".into(), ..h.clone() });
        assert!(matches!(e, VerifyError::Malformed { header: HEADER_TIMESTAMP, .. }), "{e}");
        let e = check(&SignedHeaders { signature: "not base64!".into(), ..h.clone() });
        assert!(matches!(e, VerifyError::Malformed { header: HEADER_SIGNATURE, .. }), "{e}");
        let e = check(&SignedHeaders { signature_type: Some("WECHATPAY2-SM2-WITH-SM3".into()), ..h.clone() });
        assert!(
            e.to_string().starts_with("Wechatpay-Signature-Type: must be WECHATPAY2-SHA256-RSA2048"),
            "{e}"
        );
        // WeChat Pay's probe traffic carries a signature that is not one.
        let e = check(&SignedHeaders { signature: "WECHATPAY/SIGNTEST/abc".into(), ..h.clone() });
        assert!(matches!(e, VerifyError::Malformed { .. } | VerifyError::BadSignature { .. }), "{e}");
    }

    #[test]
    fn headers_are_read_case_insensitively_and_missing_ones_named() {
        let r = &v().responses[0];
        let mut map = HeaderMap::new();
        for (k, val) in &r.headers {
            map.insert(
                axum::http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
                HeaderValue::from_str(val).unwrap(),
            );
        }
        assert_eq!(SignedHeaders::from_headers(&map).unwrap(), headers_of(r));
        map.remove(HEADER_NONCE);
        assert_eq!(SignedHeaders::from_headers(&map), Err(VerifyError::MissingHeader(HEADER_NONCE)));
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        let m = merchant();
        let shown = format!("{m:?}");
        assert!(shown.contains(&v().merchant.serial_no) && !shown.contains("MII"), "{shown}");
        let api = ApiV3Key::new(&v().apiv3_key).unwrap();
        assert!(!format!("{api:?}").contains(&v().apiv3_key));
        let e = ApiV3Key::new("short").unwrap_err();
        assert_eq!(e.to_string(), "APIv3 key: must be exactly 32 bytes (got 5)");
        let e = MerchantKey::from_pem("S1", "MIIEvQ...").unwrap_err();
        assert!(e.to_string().starts_with("merchant private key: must be PEM"), "{e}");
        let e = MerchantKey::from_pem("", &v().merchant.private_key_pkcs8_pem).unwrap_err();
        assert!(e.to_string().contains("serial"), "{e}");
        let mut keys = platform();
        let p = &v().platform[0];
        let e = keys.insert_pem(&p.serial, &p.public_key_pem).unwrap_err();
        assert!(e.to_string().contains("configured twice"), "{e}");
        let e = PlatformKeys::new().insert_pem("S2", &v().merchant.private_key_pkcs8_pem).unwrap_err();
        assert!(e.to_string().starts_with("platform key \"S2\": must be PEM"), "{e}");
        assert!(!format!("{keys:?}").contains("MII"));
    }
}
