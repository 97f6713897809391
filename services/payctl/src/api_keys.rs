//! `payctl api-key create|list|rotate|revoke`: the merchants' keys for the upstream HTTP API
//! (docs/http-api.md). A key's secret is printed once, when it is created (or rotated in); paygate
//! keeps only its SHA-256 (`paygate::store::api_keys`).

use crate::output::{self, at, or_dash};
use chrono::Utc;
use paygate::domain::MerchantId;
use paygate::store::api_keys::{self, ApiKey, CreatedKey};
use sqlx::PgPool;
use std::time::Duration;

#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for a merchant; prints its id and secret (the secret only this once).
    Create {
        /// The merchant the key acts for.
        #[arg(long)]
        merchant: String,
        /// What the key is for, for people reading the list.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// The keys, newest first (never their secrets).
    List {
        /// Only this merchant's keys.
        #[arg(long)]
        merchant: Option<String>,
    },
    /// Replace a key with a new one for the same merchant; prints the new secret once. The old
    /// key stops being accepted at once, or after --overlap.
    Rotate {
        /// The key id (`pgk_…`).
        id: String,
        /// How long the old key is still accepted beside the new one (e.g. `1h`); none by default.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
        overlap: Duration,
    },
    /// Stop accepting a key, at once.
    Revoke {
        /// The key id (`pgk_…`).
        id: String,
    },
}

pub async fn run(pool: &PgPool, command: ApiKeyCommand, json: bool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    match command {
        ApiKeyCommand::Create { merchant, label } => {
            let merchant =
                MerchantId::parse(&merchant).map_err(|e| anyhow::anyhow!("--merchant: {}", e.rule()))?;
            let created = api_keys::create(&mut conn, merchant.as_str(), &label, None).await?;
            print_created(&created, json)
        }
        ApiKeyCommand::List { merchant } => {
            let keys = api_keys::list(&mut conn, merchant.as_deref()).await?;
            if json {
                return output::json(&keys);
            }
            let now = Utc::now();
            let mut table =
                output::table(&["id", "merchant", "label", "created", "revoked", "active", "rotated from"]);
            for k in &keys {
                table.add_row(vec![
                    k.id.clone(),
                    k.merchant_id.clone(),
                    k.label.clone(),
                    at(k.created_at),
                    or_dash(k.revoked_at.map(at)),
                    if k.is_active(now) { "yes" } else { "no" }.to_owned(),
                    or_dash(k.rotated_from.as_deref()),
                ]);
            }
            println!("{table}");
            println!("{} key(s)", keys.len());
            Ok(())
        }
        ApiKeyCommand::Rotate { id, overlap } => {
            let until = Utc::now() + chrono::Duration::from_std(overlap)?;
            let mut tx = pool.begin().await?;
            let Some(created) = api_keys::rotate(&mut tx, &id, until).await? else {
                anyhow::bail!("id: no API key {id:?} (payctl api-key list shows them)");
            };
            tx.commit().await?;
            print_created(&created, json)
        }
        ApiKeyCommand::Revoke { id } => {
            let Some(key) = api_keys::revoke(&mut conn, &id, Utc::now()).await? else {
                anyhow::bail!("id: no API key {id:?} (payctl api-key list shows them)");
            };
            if json {
                return output::json(&key);
            }
            print_key(&key);
            Ok(())
        }
    }
}

fn print_created(created: &CreatedKey, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(created);
    }
    print_key(&created.key);
    println!("secret:   {}", created.secret);
    println!("The secret is shown only now: paygate keeps only its SHA-256. Requests are signed with");
    println!("that SHA-256 as the HMAC-SHA256 key (docs/http-api.md).");
    Ok(())
}

fn print_key(key: &ApiKey) {
    println!("key id:   {}", key.id);
    println!("merchant: {}", key.merchant_id);
    if let Some(at_) = key.revoked_at {
        println!("revoked:  {}", at(at_));
    }
    if let Some(from) = &key.rotated_from {
        println!("replaces: {from}");
    }
}
