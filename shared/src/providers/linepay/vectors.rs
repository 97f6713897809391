//! The LINE Pay signature vectors computed by an independent Python script
//! (tests/vectors/linepay/README.md): paygate's signing must give byte-identical signatures for
//! every accepted vector and refuse every tampered one. Compiled into the tests only; the secret
//! in them is a throwaway test-only value.

use super::signing::{ChannelSecret, sign, verify};
use serde::Deserialize;

const JSON: &str = include_str!("../../../../tests/vectors/linepay/vectors.json");

#[derive(Debug, Deserialize)]
struct Vectors {
    secret: String,
    accepted: Vec<Vector>,
    rejected: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    method: String,
    path: String,
    nonce: String,
    body_or_query: String,
    signature: String,
}

fn load() -> Vectors {
    serde_json::from_str(JSON).expect("tests/vectors/linepay/vectors.json parses")
}

#[test]
fn every_vector_is_signed_byte_for_byte_the_same() {
    let v = load();
    let secret = ChannelSecret::new(v.secret);
    assert!(v.accepted.len() >= 6, "the vectors are all there");
    for a in &v.accepted {
        assert_eq!(sign(&secret, &a.path, &a.body_or_query, &a.nonce), a.signature, "{}", a.name);
        assert!(verify(&secret, &a.path, &a.body_or_query, &a.nonce, &a.signature), "{}", a.name);
    }
    // The cases the vectors are for are all there.
    assert!(v.accepted.iter().any(|a| a.method == "GET" && a.body_or_query.is_empty()));
    assert!(v.accepted.iter().any(|a| a.method == "GET" && a.body_or_query.contains('=')));
    assert!(v.accepted.iter().any(|a| !a.body_or_query.is_ascii()));
}

#[test]
fn every_tampered_vector_is_refused() {
    let v = load();
    let secret = ChannelSecret::new(v.secret);
    assert!(v.rejected.len() >= 5);
    for r in &v.rejected {
        assert!(!verify(&secret, &r.path, &r.body_or_query, &r.nonce, &r.signature), "{}", r.name);
        assert_ne!(sign(&secret, &r.path, &r.body_or_query, &r.nonce), r.signature, "{}", r.name);
    }
}
