//! The simulator's keys: each merchant's public key (to verify `Authorization`), WeChat Pay's
//! platform private key (to sign every answer and notification) and the APIv3 key (to seal
//! notification resources). Read from PEM, or generated at start for a throwaway run.
//!
//! The primitives are paygate's (`providers::rsa_sha256`, `wechatpay::signing`), which are
//! RustCrypto's `rsa` and `sha2`; generation is `rsa`'s with the OS random source.

use anyhow::Context;
use paygate::providers::rsa_sha256::{self, PublicForms};
use paygate::providers::wechatpay::signing::{ApiV3Key, MerchantKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{PrivateKey, PublicKey};

/// A fresh RSA 2048 key pair as PEM: (PKCS#8 private, SubjectPublicKeyInfo public).
pub fn generate_pem_pair() -> anyhow::Result<(String, String)> {
    let mut rng = getrandom::SysRng;
    let key = PrivateKey::new(&mut rng, 2048).context("generating an RSA 2048 key")?;
    let private = key.to_pkcs8_pem(LineEnding::LF).context("encoding the private key")?.to_string();
    let public = key.to_public_key().to_public_key_pem(LineEnding::LF).context("encoding the public key")?;
    Ok((private, public))
}

/// A random APIv3 key: 32 characters of A-Z a-z 0-9, as the merchant platform takes it.
pub fn generate_apiv3_key() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    a.chars().zip(b.chars()).flat_map(|(x, y)| [x, y]).take(32).collect()
}

/// The public half of a PEM private key, as SubjectPublicKeyInfo PEM.
pub fn public_pem_of(private_pem: &str) -> anyhow::Result<String> {
    let key = rsa_sha256::private_key_from_text(private_pem, rsa_sha256::PrivateForms { bare_base64: false })
        .map_err(|e| anyhow::anyhow!("the private key is not readable PEM: {e}"))?;
    Ok(key.public().to_public_key_pem(LineEnding::LF)?)
}

/// A merchant's public key, read from PEM (SubjectPublicKeyInfo or PKCS#1).
pub fn merchant_public_key(pem: &str) -> anyhow::Result<PublicKey> {
    rsa_sha256::public_key_from_text(pem, PublicForms { pkcs1_pem: true, bare_base64: false })
        .map_err(|e| anyhow::anyhow!("the merchant public key is not readable PEM: {e}"))
}

/// WeChat Pay's side: the platform signing key with its serial, and the APIv3 key.
#[derive(Clone)]
pub struct PlatformSide {
    pub signer: MerchantKey,
    pub apiv3: ApiV3Key,
}

impl PlatformSide {
    pub fn new(serial: &str, private_pem: &str, apiv3_key: &str) -> anyhow::Result<Self> {
        let signer =
            MerchantKey::from_pem(serial, private_pem).map_err(|e| anyhow::anyhow!("platform key: {e}"))?;
        let apiv3 = ApiV3Key::new(apiv3_key).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self { signer, apiv3 })
    }

    pub fn serial(&self) -> &str {
        self.signer.serial_no()
    }
}
