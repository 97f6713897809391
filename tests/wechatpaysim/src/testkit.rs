//! For tests: a configuration with the throwaway TEST-ONLY keys of tests/vectors/wechatpay
//! (no key generation, which is slow in debug builds), and the same keys for paygate's side.

use crate::config::{Config, MerchantConfig};

const VECTORS: &str = include_str!("../../vectors/wechatpay/vectors.json");

/// The test keys: merchant (mchid, appid, serial, private and public PEM), platform (serial,
/// private and public PEM) and the APIv3 key.
#[derive(Debug, Clone)]
pub struct TestKeys {
    pub mchid: String,
    pub appid: String,
    pub merchant_serial: String,
    pub merchant_private_pem: String,
    pub merchant_public_pem: String,
    pub platform_serial: String,
    pub platform_private_pem: String,
    pub platform_public_pem: String,
    pub apiv3_key: String,
}

/// The keys of tests/vectors/wechatpay/vectors.json.
pub fn vector_keys() -> TestKeys {
    let v: serde_json::Value = serde_json::from_str(VECTORS).expect("vectors.json is JSON");
    let s = |x: &serde_json::Value| x.as_str().expect("a string in vectors.json").to_owned();
    let p = &v["platform"][0];
    TestKeys {
        mchid: s(&v["mchid"]),
        appid: s(&v["appid"]),
        merchant_serial: s(&v["merchant"]["serial_no"]),
        merchant_private_pem: s(&v["merchant"]["private_key_pkcs8_pem"]),
        merchant_public_pem: s(&v["merchant"]["public_key_pem"]),
        platform_serial: s(&p["serial"]),
        platform_private_pem: s(&p["private_key_pkcs8_pem_test_only"]),
        platform_public_pem: s(&p["public_key_pem"]),
        apiv3_key: s(&v["apiv3_key"]),
    }
}

/// A simulator configuration on a free port with the vector keys and their merchant.
pub fn vector_config() -> Config {
    let k = vector_keys();
    Config::new(&k.platform_serial, &k.platform_private_pem, &k.apiv3_key).with_merchant(MerchantConfig {
        mchid: k.mchid.clone(),
        appids: vec![k.appid.clone()],
        serial_no: k.merchant_serial.clone(),
        public_key_pem: k.merchant_public_pem.clone(),
    })
}
