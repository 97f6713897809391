//! `payctl api-key`: a key's secret is shown once and never stored; keys are listed without
//! secrets, rotated (the old one accepted until the overlap ends) and revoked.

use paygate::store::api_keys;
use paygate_test_support::{TestDb, run_to_exit};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_payctl");
const WITHIN: Duration = Duration::from_secs(30);

async fn payctl(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let env = [("DATABASE_URL", db.url.as_str())];
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run_to_exit(BIN, &all, &env, WITHIN).await;
    assert_eq!(out.code, Some(0), "payctl {args:?}: {}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("payctl {args:?}: {e}: {}", out.stdout))
}

#[tokio::test]
async fn a_key_is_created_listed_rotated_and_revoked() {
    let db = TestDb::new().await;
    let created = payctl(&db, &["api-key", "create", "--merchant", "m-1", "--label", "shop"]).await;
    let (id, secret) = (created["key"]["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    assert!(id.starts_with("pgk_") && secret.starts_with("pgsk_") && secret.len() == 5 + 64, "{created}");
    // Only the secret's SHA-256 is stored.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_sha256 FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, api_keys::signing_key_of(secret).to_vec());
    let dump: String = sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM api_keys t")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!dump.contains(&secret[5..]), "the secret is not in the table");

    let listed = payctl(&db, &["api-key", "list", "--merchant", "m-1"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(secret), "a list never shows a secret");

    let rotated = payctl(&db, &["api-key", "rotate", id, "--overlap", "1h"]).await;
    let new_id = rotated["key"]["id"].as_str().unwrap();
    assert_ne!(new_id, id);
    assert_eq!(rotated["key"]["rotated_from"], id);
    assert_ne!(rotated["secret"], created["secret"]);
    let mut conn = db.pool.acquire().await.unwrap();
    let now = chrono::Utc::now();
    let old = api_keys::get(&mut conn, id).await.unwrap().unwrap();
    assert!(old.is_active(now) && !old.is_active(now + chrono::Duration::hours(2)), "{old:?}");

    let revoked = payctl(&db, &["api-key", "revoke", id]).await;
    assert_eq!(revoked["id"], id);
    let old = api_keys::get(&mut conn, id).await.unwrap().unwrap();
    assert!(!old.is_active(chrono::Utc::now()));
    assert!(api_keys::get(&mut conn, new_id).await.unwrap().unwrap().is_active(chrono::Utc::now()));

    let env = [("DATABASE_URL", db.url.as_str())];
    let unknown = run_to_exit(BIN, &["api-key", "revoke", "pgk_nope"], &env, WITHIN).await;
    assert_ne!(unknown.code, Some(0));
    assert!(unknown.stderr.contains("no API key"), "{}", unknown.stderr);
    let bad = run_to_exit(BIN, &["api-key", "create", "--merchant", "a b"], &env, WITHIN).await;
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("--merchant"), "{}", bad.stderr);
}
