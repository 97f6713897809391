//! The WeChat Pay test vectors made with the PyPI SDK `wechatpayv3`
//! (tests/vectors/wechatpay/README.md), read for the tests of this folder. Compiled into the
//! tests only; every key in them is a throwaway test-only key.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const JSON: &str = include_str!("../../../../tests/vectors/wechatpay/vectors.json");

#[derive(Debug, Deserialize)]
pub struct Vectors {
    pub sdk: Sdk,
    pub mchid: String,
    pub appid: String,
    pub merchant: Merchant,
    pub platform: Vec<Platform>,
    pub apiv3_key: String,
    pub requests: Vec<Request>,
    pub responses: Vec<Response>,
    pub notifications: Vec<Notification>,
}

#[derive(Debug, Deserialize)]
pub struct Sdk {
    pub package: String,
    pub version: String,
}

#[derive(Debug, Deserialize)]
pub struct Merchant {
    pub serial_no: String,
    pub private_key_pkcs8_pem: String,
    pub private_key_pkcs1_pem: String,
}

#[derive(Debug, Deserialize)]
pub struct Platform {
    pub serial: String,
    pub public_key_pem: String,
}

#[derive(Debug, Deserialize)]
pub struct Request {
    pub name: String,
    pub method: String,
    pub url_path: String,
    pub timestamp: String,
    pub nonce: String,
    pub body: String,
    pub message: String,
    pub signature: String,
    pub authorization: String,
}

#[derive(Debug, Deserialize)]
pub struct Response {
    pub name: String,
    pub serial: String,
    pub timestamp: String,
    pub nonce: String,
    pub body: String,
    pub message: String,
    pub signature: String,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct Notification {
    pub name: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub resource_plaintext: String,
}

/// The committed vectors, parsed once.
pub fn load() -> &'static Vectors {
    static VECTORS: OnceLock<Vectors> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let v: Vectors = serde_json::from_str(JSON).expect("tests/vectors/wechatpay/vectors.json parses");
        assert_eq!((v.sdk.package.as_str(), v.sdk.version.as_str()), ("wechatpayv3", "2.0.4"));
        v
    })
}
