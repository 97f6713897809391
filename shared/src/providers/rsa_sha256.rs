//! RSA keys read from PEM, and SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256) signatures in
//! Base64: the part of Alipay's RSA2 and WeChat Pay's `WECHATPAY2-SHA256-RSA2048` that is the same
//! for both (`alipay/signing.rs`, `wechatpay/signing.rs`).
//!
//! - **Keys**: a private key as PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`) or PKCS#8
//!   (`-----BEGIN PRIVATE KEY-----`); a public key as SubjectPublicKeyInfo (`-----BEGIN PUBLIC
//!   KEY-----`) and, where the provider's form allows it, PKCS#1 (`-----BEGIN RSA PUBLIC KEY-----`)
//!   or the bare Base64 of the DER with no PEM lines (what Alipay's key tool prints). Which forms
//!   a provider takes is its choice ([`PrivateForms`], [`PublicForms`]); so are the words of its
//!   errors: a [`KeyTextError`] says what was wrong, and each provider words it for its own keys.
//! - **Signatures**: [`sign`] is deterministic (PKCS#1 v1.5; the key is blinded while signing,
//!   which does not change the result); [`verify`] takes the Base64 (standard alphabet, padded)
//!   signature as it arrives and tells a signature that is not Base64 from one that does not
//!   match.
//!
//! The cryptography is RustCrypto's `rsa` and `sha2` (reading keys, verifying) and `ring`
//! (signing: its RSA private operation is several times faster than `rsa`'s, and every Alipay
//! and WeChat Pay request is signed on the dispatcher's hot path; docs/benchmarks.md), and
//! `base64`; nothing here is hand-made. Both produce the same bytes (PKCS#1 v1.5 is
//! deterministic), which the SDK vectors' tests check.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::EncodePrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};
use sha2::Sha256;

/// A private key ready to sign: read with `rsa`, signing with `ring`; its public half kept for
/// checks of its size and for verifying.
#[derive(Clone)]
pub struct SigningKey {
    public: PublicKey,
    pair: std::sync::Arc<ring::signature::RsaKeyPair>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(<{} bits, redacted>)", self.bits())
    }
}

impl SigningKey {
    /// `ring`'s key pair of an RSA private key (2048 to 8192 bits, as `ring` takes).
    fn new(key: &PrivateKey) -> Result<Self, String> {
        let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
        let pair = ring::signature::RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(|e| e.to_string())?;
        Ok(SigningKey { public: key.to_public_key(), pair: std::sync::Arc::new(pair) })
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        bits(&self.public)
    }
}

/// The PEM label of a PKCS#1 private key.
pub const PKCS1_PRIVATE: &str = "-----BEGIN RSA PRIVATE KEY-----";
/// The PEM label of a PKCS#8 private key.
pub const PKCS8_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----";
/// The PEM label of a SubjectPublicKeyInfo public key.
pub const SPKI_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----";
/// The PEM label of a PKCS#1 public key.
pub const PKCS1_PUBLIC: &str = "-----BEGIN RSA PUBLIC KEY-----";

/// The forms of private key a provider takes besides PKCS#1 and PKCS#8 PEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrivateForms {
    /// The bare Base64 of a PKCS#8 or PKCS#1 DER, without PEM lines.
    pub bare_base64: bool,
}

/// The forms of public key a provider takes besides SubjectPublicKeyInfo PEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicForms {
    /// PKCS#1 PEM (`-----BEGIN RSA PUBLIC KEY-----`).
    pub pkcs1_pem: bool,
    /// The bare Base64 of a SubjectPublicKeyInfo DER, without PEM lines.
    pub bare_base64: bool,
}

/// The form a key's text was read as, when it could not be parsed in that form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    Pkcs1PrivatePem,
    Pkcs8PrivatePem,
    SpkiPublicPem,
    Pkcs1PublicPem,
    /// Bare Base64 of a DER (whichever DER forms the key kind allows).
    BareDer,
}

/// Why a key's text could not be read. Never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyTextError {
    /// Nothing but whitespace.
    #[error("is empty")]
    Empty,
    /// A PEM block whose `-----BEGIN …-----` label is not one of the accepted forms.
    #[error("the PEM label is not one of the accepted forms")]
    OtherLabel,
    /// No PEM block, and bare Base64 is not an accepted form.
    #[error("is not PEM")]
    NotPem,
    /// No PEM block, and the text is not Base64 either.
    #[error("not PEM, and not Base64 either: {0}")]
    NotBase64(String),
    /// The text is in `form`, but its content does not parse as an RSA key.
    #[error("{detail}")]
    Unparsable { form: KeyForm, detail: String },
}

/// Reads a private key (PKCS#1 or PKCS#8 PEM, and bare Base64 if `forms` allows it). The text is
/// trimmed first.
pub fn private_key_from_text(text: &str, forms: PrivateForms) -> Result<SigningKey, KeyTextError> {
    let (key, form) = read_private_key(text, forms)?;
    SigningKey::new(&key).map_err(|detail| KeyTextError::Unparsable { form, detail })
}

fn read_private_key(text: &str, forms: PrivateForms) -> Result<(PrivateKey, KeyForm), KeyTextError> {
    let text = text.trim();
    let unparsable = |form| move |e: String| KeyTextError::Unparsable { form, detail: e };
    if text.is_empty() {
        Err(KeyTextError::Empty)
    } else if text.starts_with(PKCS1_PRIVATE) {
        let form = KeyForm::Pkcs1PrivatePem;
        PrivateKey::from_pkcs1_pem(text).map(|k| (k, form)).map_err(|e| unparsable(form)(e.to_string()))
    } else if text.starts_with(PKCS8_PRIVATE) {
        let form = KeyForm::Pkcs8PrivatePem;
        PrivateKey::from_pkcs8_pem(text).map(|k| (k, form)).map_err(|e| unparsable(form)(e.to_string()))
    } else if text.starts_with("-----BEGIN") {
        Err(KeyTextError::OtherLabel)
    } else if !forms.bare_base64 {
        Err(KeyTextError::NotPem)
    } else {
        let der = bare_base64(text)?;
        PrivateKey::from_pkcs8_der(&der)
            .or_else(|_| PrivateKey::from_pkcs1_der(&der))
            .map(|k| (k, KeyForm::BareDer))
            .map_err(|e| unparsable(KeyForm::BareDer)(e.to_string()))
    }
}

/// Reads a public key (SubjectPublicKeyInfo PEM, and PKCS#1 PEM or bare Base64 if `forms` allows
/// them). The text is trimmed first.
pub fn public_key_from_text(text: &str, forms: PublicForms) -> Result<PublicKey, KeyTextError> {
    let text = text.trim();
    let unparsable = |form| move |e: String| KeyTextError::Unparsable { form, detail: e };
    if text.is_empty() {
        Err(KeyTextError::Empty)
    } else if text.starts_with(SPKI_PUBLIC) {
        PublicKey::from_public_key_pem(text).map_err(|e| unparsable(KeyForm::SpkiPublicPem)(e.to_string()))
    } else if forms.pkcs1_pem && text.starts_with(PKCS1_PUBLIC) {
        PublicKey::from_pkcs1_pem(text).map_err(|e| unparsable(KeyForm::Pkcs1PublicPem)(e.to_string()))
    } else if text.starts_with("-----BEGIN") {
        Err(KeyTextError::OtherLabel)
    } else if !forms.bare_base64 {
        Err(KeyTextError::NotPem)
    } else {
        let der = bare_base64(text)?;
        PublicKey::from_public_key_der(&der).map_err(|e| unparsable(KeyForm::BareDer)(e.to_string()))
    }
}

fn bare_base64(text: &str) -> Result<Vec<u8>, KeyTextError> {
    let compact: String = text.split_whitespace().collect();
    BASE64.decode(compact).map_err(|e| KeyTextError::NotBase64(e.to_string()))
}

/// A key's modulus size in bits.
pub fn bits(key: &impl PublicKeyParts) -> usize {
    key.size() * 8
}

/// The private operation failed. Not expected with a key read by [`private_key_from_text`]
/// (it would be the OS random source, used for blinding, failing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignFailure(pub String);

/// Base64 (standard alphabet, padded) of SHA256withRSA (PKCS#1 v1.5) over `message`.
pub fn sign(key: &SigningKey, message: &[u8]) -> Result<String, SignFailure> {
    let mut signature = vec![0; key.pair.public().modulus_len()];
    let rng = ring::rand::SystemRandom::new();
    key.pair
        .sign(&ring::signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)
        .map_err(|e| SignFailure(e.to_string()))?;
    Ok(BASE64.encode(signature))
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyFailure {
    /// The signature is not standard Base64.
    #[error("is not Base64: {0}")]
    NotBase64(String),
    /// It does not verify over the message with the key.
    #[error("does not verify")]
    Mismatch,
}

/// Checks a Base64 SHA256withRSA (PKCS#1 v1.5) signature of `message`.
pub fn verify(key: &PublicKey, message: &[u8], signature_base64: &str) -> Result<(), VerifyFailure> {
    let signature =
        BASE64.decode(signature_base64.as_bytes()).map_err(|e| VerifyFailure::NotBase64(e.to_string()))?;
    key.pkcs1v15_verify::<Sha256>(message, &signature).map_err(|_| VerifyFailure::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../tests/vectors/alipay/vectors.json")).unwrap()
    }

    const NO_BARE: PrivateForms = PrivateForms { bare_base64: false };

    #[test]
    fn a_signature_verifies_and_a_changed_message_or_signature_does_not() {
        let v = vectors();
        let app = &v["keys"]["app"];
        let private = private_key_from_text(app["private_pkcs8_pem"].as_str().unwrap(), NO_BARE).unwrap();
        let public = public_key_from_text(
            app["public_spki_pem"].as_str().unwrap(),
            PublicForms { pkcs1_pem: false, bare_base64: false },
        )
        .unwrap();
        assert_eq!((bits(&public), private.bits()), (2048, 2048));
        let s = sign(&private, b"a=1").unwrap();
        // ring's signature is the one rsa makes (PKCS#1 v1.5 is deterministic).
        let rsa_key = rsa::PrivateKey::from_pkcs8_pem(app["private_pkcs8_pem"].as_str().unwrap()).unwrap();
        let by_rsa = BASE64.encode(rsa_key.pkcs1v15_sign::<Sha256>(b"a=1").unwrap());
        assert_eq!(s, by_rsa);
        assert_eq!(s, sign(&private, b"a=1").unwrap(), "deterministic");
        assert_eq!(verify(&public, b"a=1", &s), Ok(()));
        assert_eq!(verify(&public, b"a=2", &s), Err(VerifyFailure::Mismatch));
        assert!(matches!(verify(&public, b"a=1", "!!"), Err(VerifyFailure::NotBase64(_))));
    }

    #[test]
    fn forms_not_accepted_are_told_apart() {
        assert_eq!(private_key_from_text("  \n", NO_BARE).err(), Some(KeyTextError::Empty));
        assert_eq!(private_key_from_text("MIIE", NO_BARE).err(), Some(KeyTextError::NotPem));
        assert_eq!(
            private_key_from_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", NO_BARE)
                .err(),
            Some(KeyTextError::OtherLabel)
        );
        assert!(matches!(
            private_key_from_text("not base64!", PrivateForms { bare_base64: true }),
            Err(KeyTextError::NotBase64(_))
        ));
        let forms = PublicForms { pkcs1_pem: false, bare_base64: false };
        assert_eq!(
            public_key_from_text("-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----", forms),
            Err(KeyTextError::OtherLabel)
        );
    }
}
