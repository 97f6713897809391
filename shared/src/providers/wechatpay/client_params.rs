//! The parameters a WeChat client (JSAPI in an official account's page, or a mini-program) invokes
//! payment with: `appId, timeStamp, nonceStr, package=prepay_id=…, signType=RSA, paySign`, where
//! `paySign` is Base64 SHA256withRSA, under the merchant's API key, over
//! `appId\ntimeStamp\nnonceStr\npackage\n`.
//!
//! They are what the customer's client needs after a JSAPI create, so the adapter hands them to
//! upstream as the customer's action. Signing is [`MerchantKey::sign`]'s (signing.rs); this file
//! only builds the message and the parameters.

use super::signing::MerchantKey;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `signType`: the only value for API v3 payments.
pub const SIGN_TYPE: &str = "RSA";

/// The signed parameters, named as the client APIs (`WeixinJSBridge`, `wx.requestPayment`) take
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientParams {
    #[serde(rename = "appId")]
    pub app_id: String,
    /// Unix seconds, as a string.
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `prepay_id=<prepay_id>`.
    pub package: String,
    #[serde(rename = "signType")]
    pub sign_type: String,
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

/// The message `paySign` covers.
pub fn message(app_id: &str, time_stamp: &str, nonce_str: &str, package: &str) -> String {
    format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n")
}

/// The client's parameters for `prepay_id`, signed with the given timestamp and nonce (tests pin
/// them; see [`sign_now`]).
pub fn sign(key: &MerchantKey, app_id: &str, prepay_id: &str, timestamp: i64, nonce: &str) -> ClientParams {
    let time_stamp = timestamp.to_string();
    let package = format!("prepay_id={prepay_id}");
    let pay_sign = key.sign(message(app_id, &time_stamp, nonce, &package).as_bytes());
    ClientParams {
        app_id: app_id.to_owned(),
        time_stamp,
        nonce_str: nonce.to_owned(),
        package,
        sign_type: SIGN_TYPE.to_owned(),
        pay_sign,
    }
}

/// Signs now, with a fresh nonce (32 upper-case hex characters of a UUID v4).
pub fn sign_now(key: &MerchantKey, app_id: &str, prepay_id: &str, now: DateTime<Utc>) -> ClientParams {
    let nonce = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    sign(key, app_id, prepay_id, now.timestamp(), &nonce)
}

#[cfg(test)]
mod tests {
    use super::super::vectors;
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use rsa::pkcs8::DecodePrivateKey;

    #[test]
    fn pay_sign_covers_the_four_lines_and_verifies_with_the_merchant_public_key() {
        let v = vectors::load();
        let key = MerchantKey::from_pem(&v.merchant.serial_no, &v.merchant.private_key_pkcs8_pem).unwrap();
        let p = sign(&key, &v.appid, "wx201410272009395522657a690389285100", 1_767_225_600, "NONCE123");
        assert_eq!(p.package, "prepay_id=wx201410272009395522657a690389285100");
        assert_eq!((p.time_stamp.as_str(), p.sign_type.as_str()), ("1767225600", "RSA"));
        let msg = message(&v.appid, "1767225600", "NONCE123", &p.package);
        assert_eq!(
            msg,
            format!("{}\n1767225600\nNONCE123\nprepay_id=wx201410272009395522657a690389285100\n", v.appid)
        );
        let private = rsa::PrivateKey::from_pkcs8_pem(&v.merchant.private_key_pkcs8_pem).unwrap();
        let public = private.to_public_key();
        let sig = BASE64.decode(&p.pay_sign).unwrap();
        public.pkcs1v15_verify::<sha2::Sha256>(msg.as_bytes(), &sig).expect("paySign verifies");
        let json = serde_json::to_value(&p).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        for k in ["appId", "timeStamp", "nonceStr", "package", "signType", "paySign"] {
            assert!(keys.contains(&k), "{k} in {keys:?}");
        }
    }
}
