//! RSA2 (SHA256withRSA, PKCS#1 v1.5, Base64) as the open platform uses it: keys read and
//! signatures verified with RustCrypto `rsa`, signatures made with `ring` (several times faster,
//! so that the simulator's signing takes less of a shared machine from what it serves; the bytes
//! are the same, PKCS#1 v1.5 being deterministic).
//!
//! - A request's signed string: every parameter except `sign`, empty values dropped, sorted by
//!   name (byte order), `k=v` joined with `&`, raw (decoded) values.
//! - A response's signature is over the exact text of its `*_response` value.
//! - A notification's signed string: every parameter except `sign` and `sign_type`, sorted,
//!   `k=v` joined with `&`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{Generate, PrivateKey, PublicKey};
use sha2::Sha256;

/// A private key ready to sign, with its public half.
#[derive(Clone)]
pub struct Signer {
    public: PublicKey,
    pair: std::sync::Arc<ring::signature::RsaKeyPair>,
}

impl Signer {
    fn new(key: &PrivateKey) -> anyhow::Result<Self> {
        let der = key.to_pkcs8_der().map_err(|e| anyhow::anyhow!("encoding the key: {e}"))?;
        let pair = ring::signature::RsaKeyPair::from_pkcs8(der.as_bytes())
            .map_err(|e| anyhow::anyhow!("not a key ring signs with: {e}"))?;
        Ok(Signer { public: key.to_public_key(), pair: std::sync::Arc::new(pair) })
    }

    pub fn to_public_key(&self) -> PublicKey {
        self.public.clone()
    }
}

/// Reads a PKCS#8 or PKCS#1 PEM private key.
pub fn private_key(pem: &str) -> anyhow::Result<Signer> {
    let key = PrivateKey::from_pkcs8_pem(pem.trim())
        .or_else(|_| PrivateKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| anyhow::anyhow!("not an RSA private key in PKCS#8 or PKCS#1 PEM: {e}"))?;
    Signer::new(&key)
}

/// Reads an SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 PEM public key, or the bare Base64 of SPKI DER
/// (as the open platform's console shows keys).
pub fn public_key(text: &str) -> anyhow::Result<PublicKey> {
    let t = text.trim();
    if t.starts_with("-----") {
        return PublicKey::from_public_key_pem(t)
            .or_else(|_| PublicKey::from_pkcs1_pem(t))
            .map_err(|e| anyhow::anyhow!("not an RSA public key in SPKI or PKCS#1 PEM: {e}"));
    }
    let der = BASE64.decode(t.split_whitespace().collect::<String>())?;
    PublicKey::from_public_key_der(&der).map_err(|e| anyhow::anyhow!("not SPKI DER: {e}"))
}

/// A new key (slow in a debug build: seconds).
pub fn generate() -> anyhow::Result<Signer> {
    Signer::new(&PrivateKey::generate())
}

/// The SPKI PEM of a public key.
pub fn public_pem(key: &PublicKey) -> String {
    key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
}

/// Base64 RSA2 signature.
pub fn sign(key: &Signer, message: &str) -> String {
    let mut signature = vec![0; key.pair.public().modulus_len()];
    let rng = ring::rand::SystemRandom::new();
    match key.pair.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, message.as_bytes(), &mut signature) {
        Ok(()) => BASE64.encode(signature),
        Err(_) => String::new(),
    }
}

/// Checks a Base64 RSA2 signature.
pub fn verify(key: &PublicKey, message: &str, sign: &str) -> bool {
    let Ok(sig) = BASE64.decode(sign.as_bytes()) else {
        return false;
    };
    key.pkcs1v15_verify::<Sha256>(message.as_bytes(), &sig).is_ok()
}

/// The signed string of a request.
pub fn request_string(params: &[(String, String)]) -> String {
    let mut kept: Vec<&(String, String)> =
        params.iter().filter(|(k, v)| k != "sign" && !v.is_empty()).collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    kept.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// The signed string of a notification.
pub fn notification_string(params: &[(String, String)]) -> String {
    let mut kept: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != "sign" && k != "sign_type").collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    kept.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_string_sorts_drops_sign_and_empties_keeps_raw_values() {
        let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let params = vec![p("b", "x&y=z"), p("sign", "S"), p("a", "中文 +"), p("c", "")];
        assert_eq!(request_string(&params), "a=中文 +&b=x&y=z");
        let n = vec![p("sign_type", "RSA2"), p("z", ""), p("a", "1")];
        assert_eq!(notification_string(&n), "a=1&z=");
    }
}
